"""Self-supervised speech encoders (wav2vec 2.0, HuBERT, WavLM) in Flax, on Hugging Face weights.

transformers 5 has no Flax models, so jax_ser carries its own: `wav2vec2.Encoder` reproduces the
PyTorch reference outputs, and `hf_checkpoint.load` turns a Hugging Face checkpoint into params.
"""
