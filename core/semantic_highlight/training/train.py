"""Seeded, resumable training of the default highlighting model, and export to the Open Provence format."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from semantic_highlight.datasets.types import Example
from semantic_highlight.models.open_provence import max_positions
from semantic_highlight.training.features import IGNORE, Encoding, Window, build_windows
from semantic_highlight.training.model import ProvenceModel

log = logging.getLogger("semantic_highlight.training")


@dataclass
class TrainConfig:
    """Hyper-parameters and paths of one training run."""

    encoder_dir: str
    run_dir: str
    init_from: str | None = None  # an Open Provence folder to fine-tune (e.g. the default model) instead
    max_length: int = 256
    train_max_length: int = 160
    batch_size: int = 16
    lr: float = 5e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_frac: float = 0.05
    max_steps: int = 1000
    epochs: float | None = None  # when set, max_steps = epochs x batches of training windows (not examples)
    time_budget_min: float = 1e9
    ckpt_every_min: float = 10.0
    seed: int = 13
    soft_weight: float = 0.3
    rank_weight: float = 0.2
    neg_window_keep: float = 0.15
    bf16: bool = True
    threads: int = 2
    device: str = "cpu"  # "cuda" trains on a GPU (bf16 autocast there too)
    freeze_layers: int = 4
    teacher_scale: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Item:
    """A tokenized training window with soft token targets (``IGNORE`` on query/special tokens)."""

    ids: list[int]
    targets: list[float]
    rank: float


def teacher_scale(examples: Sequence[Example], cos: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per language (lo, hi): median cosine of non-gold and of gold sentences."""
    out: dict[str, list[float]] = {}
    for lang in sorted({e.lang for e in examples}):
        gold: list[float] = []
        other: list[float] = []
        for e in examples:
            if e.lang != lang or e.id not in cos or not e.relevant:
                continue
            for i, c in enumerate(cos[e.id]):
                (gold if i in e.relevant else other).append(c)
        if gold and other:
            out[lang] = [float(torch.tensor(other).median()), float(torch.tensor(gold).median())]
    return out


def make_items(
    examples: Sequence[Example],
    enc: Encoding,
    cfg: TrainConfig,
    cos: dict[str, list[float]] | None,
    rng: random.Random,
) -> list[Item]:
    """Windows with targets: 1 on gold-sentence tokens, ``soft_weight * teacher`` elsewhere in the context."""
    items: list[Item] = []
    all_sents = [s for e in examples for s in e.sentences]
    encoded = enc.tokenizer.encode_batch(all_sents, add_special_tokens=False)
    pos = 0
    for ex in examples:
        sent_ids = [e.ids for e in encoded[pos : pos + len(ex.sentences)]]
        pos += len(ex.sentences)
        soft = [0.0] * len(ex.sentences)
        if cos is not None and ex.id in cos and cfg.soft_weight > 0:
            lo, hi = cfg.teacher_scale.get(ex.lang, cfg.teacher_scale.get("en", [0.8, 0.9]))
            soft = [cfg.soft_weight * min(1.0, max(0.0, (c - lo) / max(hi - lo, 1e-3))) for c in cos[ex.id]]
        windows = build_windows(enc, ex.query, ex.sentences, cfg.train_max_length, sent_ids=sent_ids)
        if not windows:
            continue
        if not ex.relevant:
            windows = [rng.choice(windows)]
        for w in windows:
            has_gold = any(s in ex.relevant for s in w.sentences)
            if ex.relevant and not has_gold and rng.random() > cfg.neg_window_keep:
                continue
            items.append(Item(w.input_ids, window_targets(w, ex.relevant, soft), float(has_gold)))
    return items


def window_targets(w: Window, relevant: frozenset[int], soft: Sequence[float] | None = None) -> list[float]:
    """Token targets for one window: ``IGNORE`` where ``sent_index < 0`` (query, specials)."""
    return [IGNORE if s < 0 else (1.0 if s in relevant else (soft[s] if soft else 0.0)) for s in w.sent_index]


def batches_for_epoch(items: Sequence[Item], batch_size: int, seed: int) -> list[list[int]]:
    """Length-grouped batches in a deterministic order for ``seed``."""
    rng = random.Random(seed)
    order = list(range(len(items)))
    rng.shuffle(order)
    out: list[list[int]] = []
    chunk = batch_size * 50
    for c in range(0, len(order), chunk):
        part = sorted(order[c : c + chunk], key=lambda i: len(items[i].ids))
        out += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def collate(items: Sequence[Item], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors for a batch of items."""
    width = max(len(it.ids) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    tgt = torch.full((len(items), width), IGNORE)
    for r, it in enumerate(items):
        ids[r, : len(it.ids)] = torch.tensor(it.ids)
        tgt[r, : len(it.targets)] = torch.tensor(it.targets)
    return {
        "input_ids": ids,
        "attention_mask": (ids != pad_id).long(),
        "targets": tgt,
        "rank": torch.tensor([it.rank for it in items]),
    }


def loss_fn(
    rank_logit: torch.Tensor, tok_logits: torch.Tensor, batch: dict[str, torch.Tensor], rank_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-target token cross-entropy on context tokens + weighted ranking BCE; returns (total, token)."""
    tgt = batch["targets"]
    mask = tgt != IGNORE
    logp = F.log_softmax(tok_logits.float(), dim=-1)
    y = tgt.clamp(min=0.0)
    tok = -(y * logp[..., 1] + (1 - y) * logp[..., 0])
    tok_loss = (tok * mask).sum() / mask.sum().clamp(min=1)
    rank_loss = F.binary_cross_entropy_with_logits(rank_logit.float(), batch["rank"])
    return tok_loss + rank_weight * rank_loss, tok_loss


def _param_groups(model: ProvenceModel, cfg: TrainConfig) -> list[dict[str, object]]:
    heads, enc_decay, enc_nodecay = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.startswith("pruning_head") or "classifier" in name or "pooler" in name:
            heads.append(p)
        elif p.ndim < 2:
            enc_nodecay.append(p)
        else:
            enc_decay.append(p)
    return [
        {"params": enc_decay, "lr": cfg.lr, "weight_decay": cfg.weight_decay},
        {"params": enc_nodecay, "lr": cfg.lr, "weight_decay": 0.0},
        {"params": heads, "lr": cfg.head_lr, "weight_decay": 0.0},
    ]


def _save_ckpt(
    path: Path,
    model: ProvenceModel,
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LambdaLR,
    step: int,
    cfg: TrainConfig,
    elapsed: float,
    fingerprint: dict[str, object],
) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "sched": sched.state_dict(),
            "step": step,
            "elapsed": elapsed,
            "cfg": asdict(cfg),
            "rng": random.getstate(),
            "torch_rng": torch.get_rng_state(),
            "fingerprint": fingerprint,
        },
        tmp,
    )
    os.replace(tmp, path)


RESUMABLE = frozenset(
    {
        "max_steps",
        "epochs",
        "time_budget_min",
        "ckpt_every_min",
        "threads",
        "device",
        "run_dir",
        "teacher_scale",
        "max_length",  # the inference window: export's, not training's (that is train_max_length)
    }
)
"""Settings a resumed run may change: how long it trains and where; the rest must match its checkpoint."""


class RunMismatchError(RuntimeError):
    """The run folder holds a checkpoint of other data or settings; resuming it would train something else."""


def run_fingerprint(cfg: TrainConfig, examples: Sequence[Example]) -> dict[str, object]:
    """What a checkpoint was trained on: the settings outside :data:`RESUMABLE`, the starting folder, and a
    digest of the training examples (query, sentences, labels, language, in order)."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in RESUMABLE and k not in ("encoder_dir", "init_from")}
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.query, e.sentences, sorted(e.relevant), e.lang], ensure_ascii=False).encode())
        digest.update(b"\n")
    return {
        "settings": settings,
        "start": str(source_dir(cfg).resolve()),
        "examples": len(examples),
        "data": digest.hexdigest(),
    }


def _check_resume(ckpt: Path, saved: dict[str, object] | None, now: dict[str, object]) -> None:
    """Raise :class:`RunMismatchError` when ``ckpt`` was trained on other data or settings than ``now``."""
    if saved is None:
        log.warning("%s records no data fingerprint (an older run): resuming it unchecked", ckpt)
        return
    diff = [k for k in ("start", "examples", "data") if saved.get(k) != now[k]]
    old_settings, new_settings = saved.get("settings") or {}, now["settings"]
    assert isinstance(old_settings, dict) and isinstance(new_settings, dict)
    diff += [f"--{k.replace('_', '-')}" for k in sorted(new_settings) if old_settings.get(k) != new_settings[k]]
    if diff:
        names = {"start": "starting model", "examples": "training data", "data": "training data"}
        what = ", ".join(dict.fromkeys(names.get(d, d) for d in diff))
        raise RunMismatchError(
            f"{ckpt} is the checkpoint of another run (it differs in: {what}), so resuming it would not train"
            f" what you asked. Pass another --run, or delete {ckpt.parent} to start over."
        )


def bf16_is_fast(device: str) -> bool:
    """Whether bf16 autocast speeds training up on ``device``: CUDA cards with bf16, and CPUs with AVX-512.

    On an AVX2-only CPU bf16 is emulated: measured here (AMD EPYC, AVX2, 2 threads), a fine-tuning step of 16
    windows took about 100 s in bf16 (nearly all in a single-threaded backward pass) against 8 s in fp32.
    """
    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if kind == "cpu":
        return torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    return False


def source_dir(cfg: TrainConfig) -> Path:
    """Where the run's starting weights and tokenizer come from."""
    return Path(cfg.init_from or cfg.encoder_dir)


def train(cfg: TrainConfig, train_examples: Sequence[Example], cos: dict[str, list[float]] | None) -> ProvenceModel:
    """Train (resuming from ``run_dir/ckpt.pt`` when present); returns the model in eval mode.

    A checkpoint records :func:`run_fingerprint`; resuming one trained on other data, from another
    starting model or with other settings raises :class:`RunMismatchError` before any training.
    """
    device = torch.device(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    run = Path(cfg.run_dir)
    ckpt = run / "ckpt.pt"
    fingerprint = run_fingerprint(cfg, train_examples)
    state = torch.load(ckpt, weights_only=True, map_location=device) if ckpt.exists() else None
    if state is not None:
        _check_resume(ckpt, state.get("fingerprint"), fingerprint)
    run.mkdir(parents=True, exist_ok=True)
    random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = (
        ProvenceModel.from_pretrained(cfg.init_from) if cfg.init_from else ProvenceModel.from_encoder(cfg.encoder_dir)
    )
    model.freeze(cfg.freeze_layers)  # keep the embeddings (and the lowest layers) of the bi-encoder fixed
    model.to(device)
    enc = Encoding.from_folder(source_dir(cfg), max_positions(model.config))
    items = _training_items(cfg, train_examples, enc, cos)
    loop = _Loop.start(model, cfg, device, ckpt, fingerprint)
    if state is not None:
        loop.restore(state)
    (run / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2))
    loop.run(items, enc.layout.pad_id)
    model.eval()
    return model


def _training_items(
    cfg: TrainConfig, examples: Sequence[Example], enc: Encoding, cos: dict[str, list[float]] | None
) -> list[Item]:
    """The run's training windows (teacher scale set on ``cfg`` first); ``cfg.epochs`` becomes ``cfg.max_steps``."""
    if cos is not None and not cfg.teacher_scale:
        cfg.teacher_scale = teacher_scale(examples, cos)
    log.info("teacher scale %s", cfg.teacher_scale)
    items = make_items(examples, enc, cfg, cos, random.Random(cfg.seed))
    n_tok = sum(len(i.ids) for i in items)
    log.info("%d training windows, %d tokens (%.0f per window)", len(items), n_tok, n_tok / max(len(items), 1))
    if not items:
        raise ValueError("no training window: every example is empty or too long for train_max_length")
    if cfg.epochs:
        cfg.max_steps = max(1, math.ceil(cfg.epochs * math.ceil(len(items) / cfg.batch_size)))
        log.info("%.3g epochs of %d windows = %d steps", cfg.epochs, len(items), cfg.max_steps)
    return items


@dataclass
class _Loop:
    """The optimisation loop's state: optimizer, schedule, step and time spent (restored on resume)."""

    model: ProvenceModel
    cfg: TrainConfig
    device: torch.device
    ckpt: Path
    fingerprint: dict[str, object]
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    progress: list[float]
    """``[max(step / max_steps, elapsed / time budget)]``: the schedule also fits a time budget."""
    step: int = 0
    spent: float = 0.0

    @classmethod
    def start(
        cls, model: ProvenceModel, cfg: TrainConfig, device: torch.device, ckpt: Path, fingerprint: dict[str, object]
    ) -> _Loop:
        """AdamW over :func:`_param_groups` with linear warmup, then linear decay to 0 over the progress."""
        opt = torch.optim.AdamW(_param_groups(model, cfg))
        progress = [0.0]

        def lr_lambda(_: int) -> float:
            p = progress[0]
            if p < cfg.warmup_frac:
                return max(p / cfg.warmup_frac, 0.02)
            return max(0.0, (1 - p) / (1 - cfg.warmup_frac))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        return cls(model, cfg, device, ckpt, fingerprint, opt, sched, progress)

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :func:`_save_ckpt` (weights, optimizer, schedule, RNGs)."""
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.step = int(state["step"])
        self.spent = float(state.get("elapsed", 0.0))
        random.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"].cpu())
        log.info("resumed from step %d", self.step)

    def run(self, items: Sequence[Item], pad: int) -> None:
        """Train until ``max_steps`` or the time budget, checkpointing every ``ckpt_every_min`` and at the end."""
        cfg, model = self.cfg, self.model
        per_epoch = math.ceil(len(items) / cfg.batch_size)
        model.train()
        t0 = last_ckpt = time.time() - self.spent
        ema = None
        while self.step < cfg.max_steps:
            epoch, offset = divmod(self.step, per_epoch)
            plan = batches_for_epoch(items, cfg.batch_size, cfg.seed + epoch)
            for b in plan[offset:]:
                tok_loss = self._one_step(collate([items[i] for i in b], pad))
                self.progress[0] = max(self.step / cfg.max_steps, (time.time() - t0) / 60 / cfg.time_budget_min)
                self.sched.step()
                ema = tok_loss if ema is None else 0.98 * ema + 0.02 * tok_loss
                if self.step % 20 == 0:
                    log.info(
                        "step %d/%d epoch %d tok_loss %.4f (ema %.4f) lr %.2e %.1f min",
                        self.step,
                        cfg.max_steps,
                        epoch,
                        tok_loss,
                        ema,
                        self.sched.get_last_lr()[0],
                        (time.time() - t0) / 60,
                    )
                done = self.step >= cfg.max_steps or self.progress[0] >= 1.0
                if time.time() - last_ckpt > cfg.ckpt_every_min * 60 or done:
                    _save_ckpt(
                        self.ckpt, model, self.opt, self.sched, self.step, cfg, time.time() - t0, self.fingerprint
                    )
                    last_ckpt = time.time()
                    log.info("checkpoint at step %d", self.step)
                if done:
                    return

    def _one_step(self, cpu_batch: dict[str, torch.Tensor]) -> float:
        """One optimizer step on a batch; returns its token loss."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in cpu_batch.items()}
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.bf16):
            rank_logit, tok_logits = self.model(batch["input_ids"], batch["attention_mask"])
        loss, tok_loss = loss_fn(rank_logit, tok_logits, batch, self.cfg.rank_weight)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.step += 1
        return float(tok_loss.item())
