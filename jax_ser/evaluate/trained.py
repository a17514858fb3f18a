"""One finished run loaded from its workdir: its config, best checkpoint and runner. Prediction
(jax_ser.evaluate.model), re-evaluation, adaptation sets and cross-corpus tests start here.
Where training fitted a temperature on the validation speakers (metrics.json, "calibration"),
the probabilities are the calibrated ones."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jax_ser.config import workdir as workdir_lib
from jax_ser.data import audio
from jax_ser.evaluate import calibration
from jax_ser.evaluate.runner import Runner
from jax_ser.train import checkpoints


def members(workdir: str | Path) -> list[Trained]:
    """Every trained member of a workdir: one, or train.ensemble_size, sharing one runner and
    one read of the checkpoint."""
    size = workdir_lib.read(Path(workdir)).train.ensemble_size
    if size == 1:
        return [Trained(workdir)]
    first = Trained(workdir, 0)
    return [first, *(first.sibling(k) for k in range(1, size))]


class Trained:
    """The best checkpoint of one workdir: `runner` labels with `state`. A workdir trained as an
    ensemble (train.ensemble_size) holds several members: `member` picks one (`members` loads
    them all). Training fitted the run's temperature on the members' mean, so an ensemble is
    calibrated after averaging its members (`calibration_groups`)."""

    def __init__(self, workdir: str | Path, member: int | None = None):
        workdir = Path(workdir)
        self.workdir = workdir
        self.config = workdir_lib.read(workdir)
        size = self.config.train.ensemble_size
        if (member is None) != (size == 1) or (member is not None and not 0 <= member < size):
            raise ValueError(
                f"{workdir} holds {size} trained member(s) (train.ensemble_size); member "
                f"{member} asked for: load them all with jax_ser.load or trained.members")
        self.member = member
        self.temperature = fitted_temperature(workdir)
        if self.config.data.precomputed:
            raise ValueError(
                f"{workdir} was trained on precomputed encoder features "
                f"({self.config.data.precomputed}); label recordings with a model "
                "trained on audio, e.g. configs/wav2vec2_base_cls.py"
            )
        if self.config.model.name == "classical":  # a fitted scikit-learn pipeline
            from jax_ser.models import classical

            self.runner, self.state = classical.Fitted.load(workdir, self.config), None
            self.labels = list(self.runner.class_names)
            return
        self.runner = Runner(self.config)
        state = self.runner.init(load_pretrained=False)
        template = {"params": state.params, "model_state": state.model_state}
        if member is not None:  # the ensemble's members stacked on a leading axis
            template = jax.tree.map(lambda x: jnp.zeros((size, *x.shape), x.dtype), template)
        best = checkpoints.read_best(workdir / "checkpoints", template)
        if best is None:
            raise FileNotFoundError(f"no trained checkpoint in {workdir / 'checkpoints' / 'best'}")
        variables, _ = best
        self.labels = list(self.runner.class_names)
        if member is None:
            self.state = state.replace(params=variables["params"],
                                       model_state=variables["model_state"])
        else:
            self.state, self._stacked = state, variables
            self.state = self._member_state(member)

    def sibling(self, member: int) -> Trained:
        """Another member of this ensemble workdir, with this one's runner and checkpoint."""
        other = copy.copy(self)
        other.member, other.state = member, self._member_state(member)
        return other

    def _member_state(self, member: int):
        sharding = self.runner.state_sharding
        variables = jax.device_put(jax.tree.map(lambda x: x[member], self._stacked),
                                   {"params": sharding.params, "model_state": sharding.model_state})
        return self.state.replace(params=variables["params"], model_state=variables["model_state"])

    @property
    def adapter_names(self) -> list[str]:
        """The speaker adaptation methods the run applies (jax_ser.adapt), in order."""
        return [] if self.state is None else [
            m.__name__.rpartition(".")[2] for m in self.runner.adapters]

    @property
    def needs_speaker(self) -> bool:
        """Whether a label depends on the speaker's other recordings (jax_ser.adapt)."""
        return self.state is not None and bool(self.runner.adapters)

    def preprocess(self, raw: np.ndarray, trim: bool = True) -> np.ndarray:
        data = self.config.data
        return audio.preprocess(raw, normalize=data.normalize,
                                trim_db=(data.trim_db or None) if trim else None)

    def adapt(self, waves: Sequence[np.ndarray]):
        """The model adapted to one speaker from their preprocessed recordings (jax_ser.adapt):
        feature statistics from the whole recordings, BatchNorm statistics from every clip-long
        window of each once, as the labels will see them."""
        clip = self.runner.clip_samples
        windows = [w for wave in waves
                   for w in (audio.sliding_windows(wave, clip, clip)[0]
                             if len(wave) > clip else [wave])]
        return self.runner.adapt(self.state, waves, crops=windows, num_crops=1)

    def probs(self, waves, num_crops: int | None = None, speaker=None,
              calibrated: bool = True) -> np.ndarray:
        """Probabilities of `waves`, by the model as trained or adapted to `speaker` (a
        jax_ser.adapt.Speaker from `adapt`), calibrated with the run's temperature unless
        `calibrated` is False (a member of an ensemble, calibrated after the mean)."""
        if speaker is None:
            if self.needs_speaker:
                raise ValueError(
                    f"{self.workdir} adapts to the speaker ({', '.join(self.adapter_names)}): "
                    "adapt it to recordings of the speaker first: model.adapt(recordings) "
                    "in Python, --speakers in jax_ser.predict")
            probs = self.runner.probs(self.state, waves, num_crops=num_crops)
        else:
            probs = self.runner.labelled(speaker, waves, num_crops)
        if self.temperature is None or not calibrated:
            return probs
        return calibration.apply_temperature(probs, self.temperature)


def calibration_groups(members: Sequence[Trained]) -> list[tuple[float | None, list[int]]]:
    """(temperature, indices) of `members` per workdir: training fitted one temperature on the
    mean of a workdir's members, so they are averaged before it, and the runs of an ensemble of
    workdirs after their own."""
    groups: dict[Path, tuple[float | None, list[int]]] = {}
    for index, member in enumerate(members):
        groups.setdefault(member.workdir, (member.temperature, []))[1].append(index)
    return list(groups.values())


def fitted_temperature(workdir: Path) -> float | None:
    """The temperature training fitted on the validation speakers, if it fitted one."""
    path = workdir / "metrics.json"
    if not path.exists():  # an interrupted run labels with its best checkpoint as it is
        return None
    return json.loads(path.read_text()).get("calibration", {}).get("temperature")
