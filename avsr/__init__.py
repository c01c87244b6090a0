"""avsr: visual and audio-visual speech recognition (lip-ROI extraction, VALLR lip reading,
adapter-based AVSR). Importing the package is cheap; submodules load their dependencies."""

__version__ = "0.1.0"
