"""HuBERT large with mean pooling and a linear layer.

  python -m jax_ser.main --config configs/hubert_large_cls.py --workdir runs/hubert_large_cls

On a real corpus add --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS.
`model.checkpoint` is a local Hugging Face directory (config.json + model.safetensors or
pytorch_model.bin) or, where there is a network, the hub id. Fetch it elsewhere with
`huggingface-cli download facebook/hubert-large-ll60k --local-dir /models/hubert-large-ll60k` and pass
--config.model.checkpoint=/models/hubert-large-ll60k. Without weights, --config.model.init=random trains the
same architecture from scratch (slow on CPU; see README for measured speed).

Result: not measured yet. The development machine has no pretrained weights and no network,
and fine-tuning at this size on its 2-core CPU is too slow (README: encoder speed).
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    model = dict(
        name="wav2vec2", checkpoint="facebook/hubert-large-ll60k", head="linear", remat=True
    )
    config = fine_tuning(base_config(model))
    config.train.batch_size = 8
    return config
