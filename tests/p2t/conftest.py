import pytest


@pytest.fixture(scope="session")
def tiny_lm():
    """A tiny randomly initialised Llama and a byte-level BPE tokenizer trained here on a few
    lines (no download). Returns a factory so each test gets fresh weights."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from avsr.text import PHONEMES

    bpe = ByteLevelBPETokenizer()
    corpus = [
        "Phonemes: "
        + " ".join(PHONEMES)
        + " |\nText: the cat sat on the mat go forward ten meters she had your dark suit"
    ] * 20
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1, special_tokens=["<pad>", "<s>", "</s>"])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>")

    def make(seed: int = 0):
        torch.manual_seed(seed)
        cfg = LlamaConfig(
            vocab_size=len(tok),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            tie_word_embeddings=False,
            initializer_range=0.2,
        )  # at the default 0.02 a random tiny model is too flat for LoRA to steer
        return LlamaForCausalLM(cfg).eval(), tok

    return make
