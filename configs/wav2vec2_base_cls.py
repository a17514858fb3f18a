"""wav2vec 2.0 base with mean pooling and a linear layer: the sequence-classification baseline.

  python -m jax_ser.main --config configs/wav2vec2_base_cls.py --workdir runs/wav2vec2_base_cls

On a real corpus add --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS.
`model.checkpoint` is a local Hugging Face directory (config.json + model.safetensors or
pytorch_model.bin) or, where there is a network, the hub id. Fetch it elsewhere with
`huggingface-cli download facebook/wav2vec2-base --local-dir /models/wav2vec2-base` and pass
--config.model.checkpoint=/models/wav2vec2-base. Without weights, --config.model.init=random trains the
same architecture from scratch (slow on CPU; see README for measured speed).

Result: not measured yet. The development machine has no pretrained weights and no network,
and fine-tuning at this size on its 2-core CPU is too slow (README: encoder speed).
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    return fine_tuning(
        base_config(dict(name="wav2vec2", checkpoint="facebook/wav2vec2-base", head="linear"))
    )
