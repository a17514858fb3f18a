"""Ablation: from configs/ravdess_augmented.py to the plain PyTorch script, one difference a row.

  python -m jax_ser.ablate --config configs/ablations/plain_script.py --workdir runs/abl_script \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS --seeds=0,1

benchmarks/reference_recipe.py is the independent script (its own loading, cropping and features
in PyTorch). Cumulative rows, each adding one of its choices to the one above: padding frames
left out of the utterance statistics and set to 0 (features.mask_padding), log(mel + 1e-6)
without a top_db floor, no peak normalisation, dropout 0.3 before the classifier, no weight EMA,
warm-up or gradient clipping, and the centre crop at test. The last row is the script's recipe in
jax_ser, so its gap to the script is what the two implementations do differently beyond these.

Measured (RAVDESS actors 01-20, 5 folds x seeds 0-1, 2-core CPU, one core per run, JAX 0.10.2;
--cells=6): the last row 0.514 ± 0.078 UA, the first (ravdess_augmented) 0.503 ± 0.062, the
script 0.521 ± 0.080; the rows between not run. Results: results/ravdess_augmented.md.
"""

from pathlib import Path

from jax_ser.config import load_module

MASK_PADDING = {"features.mask_padding": True}
LOG_OFFSET = {**MASK_PADDING, "features.log_offset": 1e-6, "features.top_db": 0.0}
NO_PEAK_NORMALIZATION = {**LOG_OFFSET, "data.normalize": False}
DROPOUT = {**NO_PEAK_NORMALIZATION, "model.dropout": 0.3}
PLAIN_TRAINING = {**DROPOUT, "train.ema_decay": 0.0, "train.warmup_epochs": 0.0,
                  "train.grad_clip_norm": 0.0}
CENTRE_CROP = {**PLAIN_TRAINING, "eval.crops": 1}


def get_config():
    return load_module(Path(__file__).parents[1] / "ravdess_augmented.py").get_config()


def get_grid():
    return {"script": {"ravdess_augmented": {}, "+mask_padding": MASK_PADDING,
                       "+log_offset": LOG_OFFSET, "-peak_normalization": NO_PEAK_NORMALIZATION,
                       "+dropout_0.3": DROPOUT, "-ema_warmup_clipping": PLAIN_TRAINING,
                       "-tta": CENTRE_CROP}}
