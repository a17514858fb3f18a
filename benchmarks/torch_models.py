"""PyTorch twins of jax_ser's log-mel frontend, ResNet18 and BiLSTM, and its AdamW, written the
way a PyTorch SER script writes them. The training-step benchmark runs the twins whole; the
reference recipe runs the ResNet18 and AdamW on its own front end (the models' `frontend`)."""

import librosa
import torch
from torch import nn


class TorchFrontend(nn.Module):
    """Waves [B, N] -> normalised log-mel [B, T, n_mels], as jax_ser.frontend.compute does."""

    def __init__(self, fc):
        super().__init__()
        self.fc = fc
        mel = librosa.filters.mel(sr=fc.sample_rate, n_fft=fc.n_fft, n_mels=fc.n_mels,
                                  fmin=fc.fmin, fmax=fc.fmax or None)
        self.register_buffer("mel", torch.from_numpy(mel))
        self.register_buffer("window", torch.hann_window(fc.win_length, periodic=True))

    def forward(self, waves):
        fc = self.fc
        spec = torch.stft(waves, fc.n_fft, fc.hop_length, fc.win_length, self.window,
                          center=True, pad_mode="constant", return_complex=True)
        power = spec.real.square() + spec.imag.square()
        db = 10 * torch.log10(torch.clamp(self.mel @ power, min=1e-10)).transpose(1, 2)
        db = torch.maximum(db, db.amax(dim=(1, 2), keepdim=True) - fc.top_db)
        dims = (1, 2) if fc.normalize == "utterance" else (1,)
        mean = db.mean(dim=dims, keepdim=True)
        var = (db - mean).square().mean(dim=dims, keepdim=True)
        return (db - mean) * torch.rsqrt(var + 1e-5)


class TorchBasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn2.weight)  # as jax_ser's zero-init of the last scale
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class TorchResNet18(nn.Module):
    """jax_ser.models.resnet's ResNet18 (ImageNet stem, one input channel) in torchvision's form.

    `forward(*inputs)` is `classify(features(*inputs))`, the features those of `frontend` (by
    default TorchFrontend, of waves); a training loop that augments the features (SpecAugment,
    mixup) calls the two itself."""

    def __init__(self, fc, width: int, dropout: float, num_classes: int,
                 frontend: nn.Module | None = None):
        super().__init__()
        self.frontend = TorchFrontend(fc) if frontend is None else frontend
        self.conv1 = nn.Conv2d(1, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], width
        for i in range(4):
            for j in range(2):
                blocks.append(TorchBasicBlock(cin, width * 2**i, 2 if i > 0 and j == 0 else 1))
                cin = width * 2**i
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, *inputs):
        with torch.no_grad():
            return self.frontend(*inputs)

    def classify(self, feats):
        x = feats[:, None]  # [B, 1, T, F]: time as height, as in jax_ser
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        x = self.blocks(x).mean(dim=(2, 3))
        return self.fc(self.dropout(x))

    def forward(self, *inputs):
        return self.classify(self.features(*inputs))


class TorchBiLSTM(nn.Module):
    """jax_ser.models.bilstm: stacked bidirectional LSTM, mean over frames, dropout, linear; the
    features, as TorchResNet18's, those of `frontend` (by default TorchFrontend)."""

    def __init__(self, fc, hidden: int, num_layers: int, dropout: float, num_classes: int,
                 frontend: nn.Module | None = None):
        super().__init__()
        self.frontend = TorchFrontend(fc) if frontend is None else frontend
        self.lstm = nn.LSTM(fc.n_mels, hidden, num_layers, batch_first=True, dropout=dropout,
                            bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * hidden, num_classes)

    def features(self, *inputs):
        with torch.no_grad():
            return self.frontend(*inputs)

    def classify(self, feats):
        x, _ = self.lstm(feats)
        return self.classifier(self.dropout(x.mean(dim=1)))

    def forward(self, *inputs):
        return self.classify(self.features(*inputs))


def torch_model(config, num_classes: int, frontend: nn.Module | None = None) -> nn.Module:
    """The twin of config.model (resnet of depth 18, or bilstm) on config.features (log-mel),
    computed by TorchFrontend or by `frontend` (n_mels features per frame)."""
    m = config.model
    if config.features.name != "log_mel":
        raise ValueError(f"the PyTorch twins compute log_mel only, not {config.features.name!r}")
    if m.name == "resnet" and m.depth == 18:
        return TorchResNet18(config.features, m.width, m.dropout, num_classes, frontend)
    if m.name == "bilstm":
        return TorchBiLSTM(config.features, m.hidden, m.num_layers, m.dropout, num_classes,
                           frontend)
    raise ValueError(f"no PyTorch twin of model {m.name!r}; twins: resnet (depth 18), bilstm")


def adamw(model: nn.Module, learning_rate: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with decay on the weight matrices and kernels only, as jax_ser decays."""
    weights = [p for p in model.parameters() if p.ndim > 1]
    others = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.AdamW([{"params": weights, "weight_decay": weight_decay},
                              {"params": others, "weight_decay": 0.0}], lr=learning_rate)
