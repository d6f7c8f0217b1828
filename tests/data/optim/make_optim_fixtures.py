#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Writes the expected values of tests/plugins/test_optimizers.cpp and tests/plugins/test_schedulers.cpp:

  adamw_steps.json   parameters after each of 5 updates with fixed gradients, for
                     - torch.optim.AdamW itself (bias correction; PyTorch 1.13),
                     - ELECTRA's AdamWeightDecayOptimizer (google-research/electra model/optimization.py),
                     - BERT's BertAdam with max_grad_norm 1.0 (pytorch_pretrained_bert 0.6.2 optimization.py, the copy
                       bundled by microsoft/Distilled-Sentence-Embedding and the `bert_adam` of AllenNLP 0.9 that
                       SPECTER trains with),
                     written below in plain torch operations in the order those files write them;
  schedules.json     learning-rate factors of every schedule plugin at chosen steps, from each reference's formula:
                     ELECTRA's create_optimizer (TF polynomial_decay x warmup), Hugging Face's
                     get_linear_schedule_with_warmup, pytorch_pretrained_bert's WarmupLinearSchedule ('warmup_linear')
                     and AllenNLP 0.9's SlantedTriangular, the last one driven as AllenNLP's trainer drives it.

Run: /usr/bin/python3 tests/data/optim/make_optim_fixtures.py   (Debian 12: python3-torch 1.13.1+dfsg, Python 3.11).
Nothing is random; a rerun reproduces both files byte for byte.

Step convention. stagehand's Scheduler::factor(step, total) gets the 0-based number of the update about to be made.
Each reference's counter, mapped onto it:
  ELECTRA   TF global_step, 0 at the first update (incremented after apply_gradients): step.
  HF        LambdaLR calls lr_lambda(0) at construction and scheduler.step() follows each optimizer.step(): step.
  BertAdam  state['step'] is 0 at the first step() and incremented after the update: step.
  AllenNLP  the trainer increments batch_num_total before calling step_batch(batch_num_total) and then
            optimizer.step(): the first update sees 1, so step + 1.
"""
import json
import math
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------------------------------------------
# Optimizers

NAMES = ["encoder.layer.0.dense.weight", "encoder.layer.0.dense.bias", "head.scale"]
SHAPES = [[2, 3], [3], [4]]
LR_SCALE = [1.0, 1.0, 0.5]  # stagehand's per-parameter lr multiplier (layer-wise decay): a group's lr in the refs
DECAY = [True, False, True]  # the bias is excluded from weight decay, as every reference excludes biases
BASE_LR = 0.01
LRS = [BASE_LR * f for f in (0.25, 0.5, 0.75, 1.0, 0.8)]  # the scheduled lr of each of the 5 updates
WEIGHT_DECAY = 0.1
EPS = 1e-6
BETAS = (0.9, 0.999)


def initial_params():
    return [
        torch.linspace(-0.6, 0.6, 6, dtype=torch.float64).reshape(2, 3),
        torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64),
        torch.tensor([0.5, -0.5, 1.5, -1.5], dtype=torch.float64),
    ]


def gradients(k):
    """Fixed gradients of update k. Per-tensor norms: the weight's grows past 1 from k = 1 on, the bias's stays far
    below 1, the last tensor's is about 2.8: per-tensor clipping at 1.0 changes some tensors and not others."""
    i6 = torch.arange(6, dtype=torch.float64)
    i3 = torch.arange(3, dtype=torch.float64)
    i4 = torch.arange(4, dtype=torch.float64)
    return [
        (0.3 * (k + 1) * torch.sin(1.3 * i6 + k)).reshape(2, 3),
        0.05 * torch.cos(0.7 * i3 - k),
        2.0 * torch.sin(0.9 * i4 + 0.5 * k) + 0.25,
    ]


def run_torch_adamw():
    """torch.optim.AdamW (the reference of bias_correction: true): one group per parameter, lr x lr_scale, weight
    decay where DECAY says."""
    params = [p.clone().requires_grad_(True) for p in initial_params()]
    groups = [{"params": [p], "lr": BASE_LR * s, "weight_decay": WEIGHT_DECAY if d else 0.0}
              for p, s, d in zip(params, LR_SCALE, DECAY)]
    opt = torch.optim.AdamW(groups, lr=BASE_LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY)
    trajectory = []
    for k, lr in enumerate(LRS):
        for g, s in zip(opt.param_groups, LR_SCALE):
            g["lr"] = lr * s
        for p, grad in zip(params, gradients(k)):
            p.grad = grad.clone()
        opt.step()
        trajectory.append([p.detach().flatten().tolist() for p in params])
    return trajectory


def run_electra():
    """ELECTRA's AdamWeightDecayOptimizer._apply_gradients, in its order: next_m = beta_1 m + (1 - beta_1) grad;
    next_v = beta_2 v + (1 - beta_2) grad^2; update = next_m / (sqrt(next_v) + epsilon); update += weight_decay_rate
    * param where decay applies; param - learning_rate * update. No bias correction, no clipping inside."""
    params = initial_params()
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2 = BETAS
    trajectory = []
    for k, lr in enumerate(LRS):
        for i, grad in enumerate(gradients(k)):
            next_m = b1 * m[i] + (1.0 - b1) * grad
            next_v = b2 * v[i] + (1.0 - b2) * torch.square(grad)
            update = next_m / (torch.sqrt(next_v) + EPS)
            if DECAY[i]:
                update = update + WEIGHT_DECAY * params[i]
            params[i] = params[i] - (lr * LR_SCALE[i]) * update
            m[i], v[i] = next_m, next_v
        trajectory.append([p.flatten().tolist() for p in params])
    return trajectory


def run_bert_adam(max_grad_norm):
    """BertAdam.step, in its order, per parameter: clip_grad_norm_(p, max_grad_norm) when max_grad_norm > 0 (torch's
    own function, on that one tensor); next_m.mul_(b1).add_(1 - b1, grad); next_v.mul_(b2).addcmul_(1 - b2, grad,
    grad); update = next_m / (next_v.sqrt() + e); update += weight_decay * p.data when the group's weight_decay > 0;
    p.data.add_(-lr_scheduled * update). The schedule is applied outside (the lr of each update is given), which is
    BertAdam's t_total = -1 path that SPECTER's config takes; the schedule alone is checked in schedules.json."""
    params = [p.clone().requires_grad_(True) for p in initial_params()]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2 = BETAS
    trajectory = []
    with torch.no_grad():
        for k, lr in enumerate(LRS):
            for i, (p, grad) in enumerate(zip(params, gradients(k))):
                p.grad = grad.clone()
                if max_grad_norm > 0:
                    torch.nn.utils.clip_grad_norm_(p, max_grad_norm)
                g = p.grad
                m[i].mul_(b1).add_(g, alpha=1 - b1)
                v[i].mul_(b2).addcmul_(g, g, value=1 - b2)
                update = m[i] / (v[i].sqrt() + EPS)
                if DECAY[i] and WEIGHT_DECAY > 0.0:
                    update += WEIGHT_DECAY * p
                p.add_(-(lr * LR_SCALE[i]) * update)
            trajectory.append([p.detach().flatten().tolist() for p in params])
    return trajectory


def max_abs_diff(a, b):
    return max(abs(x - y) for sa, sb in zip(a, b) for ta, tb in zip(sa, sb) for x, y in zip(ta, tb))


def optimizer_fixture():
    torch_adamw = run_torch_adamw()
    electra = run_electra()
    bert_adam_unclipped = run_bert_adam(0.0)
    bert_adam = run_bert_adam(1.0)
    # ELECTRA's and BertAdam's rules are one update written twice: without clipping they agree to rounding.
    assert max_abs_diff(electra, bert_adam_unclipped) < 1e-15, max_abs_diff(electra, bert_adam_unclipped)
    # The cases differ from each other: a test that confused them would fail.
    assert max_abs_diff(torch_adamw, electra) > 1e-3
    assert max_abs_diff(electra, bert_adam) > 1e-4
    common = f"lr: {BASE_LR}, weight_decay: {WEIGHT_DECAY}, eps: {EPS}, betas: [{BETAS[0]}, {BETAS[1]}]"
    return {
        "about": "written by make_optim_fixtures.py; parameters are float64, flattened row-major",
        "names": NAMES,
        "shapes": SHAPES,
        "lr_scale": LR_SCALE,
        "decay": DECAY,
        "initial": [p.flatten().tolist() for p in initial_params()],
        "gradients": [[g.flatten().tolist() for g in gradients(k)] for k in range(len(LRS))],
        "lrs": LRS,
        "cases": [
            {"name": "torch.optim.AdamW", "spec": "{type: adamw, " + common + "}", "clip": "none",
             "after_step": torch_adamw},
            {"name": "ELECTRA AdamWeightDecayOptimizer",
             "spec": "{type: adamw, " + common + ", bias_correction: false}", "clip": "none", "after_step": electra},
            {"name": "BertAdam, max_grad_norm 1.0",
             "spec": "{type: adamw, " + common + ", bias_correction: false}", "clip": "per_tensor",
             "clip_norm": 1.0, "after_step": bert_adam},
        ],
    }


# ---------------------------------------------------------------------------------------------------------------
# Schedules (factors of the base learning rate, i.e. each reference's lr with the initial lr set to 1)

def electra_factor(step, total, warmup_steps=0, warmup_proportion=0.0, power=1.0, end=0.0):
    """ELECTRA's create_optimizer: tf.train.polynomial_decay(1, global_step, total, end_learning_rate=end,
    power=power, cycle=False), i.e. (1 - end) * (1 - min(step, total) / total)^power + end, then multiplied by
    min(1, step / warmup) with warmup = max(total * warmup_proportion, warmup_steps), unrounded."""
    decayed = (1.0 - end) * (1.0 - min(step, total) / total) ** power + end
    warmup = max(total * warmup_proportion, warmup_steps)
    return decayed * min(1.0, step / warmup)


def hf_linear_factor(step, num_warmup_steps, num_training_steps):
    """transformers' get_linear_schedule_with_warmup lr_lambda."""
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def bert_warmup_linear_factor(step, warmup, t_total):
    """pytorch_pretrained_bert 0.6.2 WarmupLinearSchedule(warmup, t_total).get_lr(step): progress = step / t_total;
    progress / warmup during warmup, then max((progress - 1) / (warmup - 1), 0)."""
    warmup = max(warmup, 0.0)
    progress = float(step) / float(t_total)
    if progress < warmup:
        return progress / warmup
    return max((progress - 1.0) / (warmup - 1.0), 0.0)


def allennlp_slanted_triangular_run(num_epochs, num_steps_per_epoch, cut_frac, ratio):
    """AllenNLP 0.9's SlantedTriangular (no gradual unfreezing, no discriminative fine-tuning) driven as its Trainer
    drives it: the constructor's step(epoch=-1) and step_batch(0); per update batch_num_total += 1,
    step_batch(batch_num_total), optimizer.step(); step(metric, epoch) at the end of every epoch. Returns the factor
    each update is made with."""
    state = {"epoch_ends": [], "last": -1}

    def values():
        ends = state["epoch_ends"]
        if len(ends) > 1:
            per_epoch = int(ends[-1] / (len(ends) - 1))
        else:
            per_epoch = max(num_steps_per_epoch, state["last"])
        num_steps = num_epochs * per_epoch
        step = min(state["last"], num_steps)
        cut = int(num_steps * cut_frac)
        prop = step / cut if step < cut else 1 - (step - cut) / (num_steps - cut)
        return (1 + prop * (ratio - 1)) / ratio

    def end_epoch():
        state["epoch_ends"].append(0 if not state["epoch_ends"] else state["last"])

    end_epoch()  # Scheduler.__init__ -> step(epoch=-1)
    state["last"] = 0  # step_batch(0)
    factors = []
    batch_num_total = 0
    for _ in range(num_epochs):
        for _ in range(num_steps_per_epoch):
            batch_num_total += 1
            state["last"] = batch_num_total  # step_batch(batch_num_total)
            factors.append(values())  # the lr optimizer.step() uses
        end_epoch()
    return factors


def pick(values, steps):
    return [values[s] for s in steps]


def schedule_fixture():
    cases = []

    def add(name, spec, total, steps, factors):
        cases.append({"name": name, "spec": spec, "total": total, "steps": steps, "factors": factors})

    # ELECTRA (plugin `linear`).
    s = [0, 5, 9, 10, 11, 50, 99, 100, 150]
    add("ELECTRA fine-tuning: warmup_proportion 0.1", "{type: linear, warmup_fraction: 0.1}", 100, s,
        [electra_factor(t, 100, warmup_proportion=0.1) for t in s])
    s = [0, 1, 2, 3, 12, 24, 25]
    add("ELECTRA: 25 * 0.1 = 2.5 warmup steps, unrounded", "{type: linear, warmup_fraction: 0.1}", 25, s,
        [electra_factor(t, 25, warmup_proportion=0.1) for t in s])
    s = [0, 5000, 9999, 10000, 10001, 500000, 999999, 1000000]
    add("ELECTRA pretraining: warmup_steps 10000 of 1M", "{type: linear, warmup_steps: 10000}", 1000000, s,
        [electra_factor(t, 1000000, warmup_steps=10000) for t in s])
    s = [0, 2, 4, 5, 10, 19, 20]
    add("TF polynomial_decay with power 2 and an end learning rate",
        "{type: linear, warmup_steps: 4, power: 2.0, final_factor: 0.1}", 20, s,
        [electra_factor(t, 20, warmup_steps=4, power=2.0, end=0.1) for t in s])

    # Hugging Face (plugin `linear_with_warmup`).
    s = [0, 5, 9, 10, 11, 50, 99, 100, 120]
    add("HF: 10 warmup steps of 100", "{type: linear_with_warmup, warmup_steps: 10}", 100, s,
        [hf_linear_factor(t, 10, 100) for t in s])
    s = [0, 1, 2, 3, 4, 14, 24]
    add("HF Trainer warmup_ratio 0.1 of 25: ceil(2.5) = 3", "{type: linear_with_warmup, warmup_fraction: 0.1}", 25,
        s, [hf_linear_factor(t, math.ceil(25 * 0.1), 25) for t in s])
    add("Multi2SPE warmup_frac 0.1 of 25: int(2.5) = 2",
        "{type: linear_with_warmup, warmup_fraction: 0.1, warmup_rounding: floor}", 25, s,
        [hf_linear_factor(t, int(0.1 * 25), 25) for t in s])
    s = [0, 1, 5, 9]
    add("HF without warmup (SPECTER's Lightning default)", "{type: linear_with_warmup}", 10, s,
        [hf_linear_factor(t, 0, 10) for t in s])

    # BertAdam's warmup_linear (plugin `bert_warmup_linear`).
    s = [0, 5, 9, 10, 11, 50, 99, 100, 120]
    add("BertAdam warmup 0.1, t_total 100", "{type: bert_warmup_linear, warmup_fraction: 0.1}", 100, s,
        [bert_warmup_linear_factor(t, 0.1, 100) for t in s])
    s = [0, 5, 9, 10, 11, 25, 49]
    add("DSE: t_total counts micro-batches, 2 per update (50 updates, t_total 100)",
        "{type: bert_warmup_linear, warmup_fraction: 0.1, t_total_scale: 2}", 50, s,
        [bert_warmup_linear_factor(t, 0.1, 100) for t in s])
    s = [0, 1, 5, 9]
    add("BertAdam without warmup: 1 - x", "{type: bert_warmup_linear, warmup_fraction: 0.0}", 10, s,
        [bert_warmup_linear_factor(t, 0.0, 10) for t in s])
    s = [0, 3, 4, 5, 6, 20, 29]
    add("BertAdam warmup 0.15 of 30: 4.5 warmup steps", "{type: bert_warmup_linear, warmup_fraction: 0.15}", 30, s,
        [bert_warmup_linear_factor(t, 0.15, 30) for t in s])

    # AllenNLP's slanted triangular (plugin `slanted_triangular`), every update of whole runs.
    run = allennlp_slanted_triangular_run(2, 50, 0.1, 32)
    add("AllenNLP: 2 epochs x 50, cut_frac 0.1, ratio 32 (SPECTER)", "{type: slanted_triangular, cut_frac: 0.1}",
        100, list(range(100)), run)
    run = allennlp_slanted_triangular_run(1, 8, 0.25, 5)
    add("AllenNLP: 8 updates, cut_frac 0.25, ratio 5", "{type: slanted_triangular, cut_frac: 0.25, ratio: 5.0}", 8,
        list(range(8)), run)
    run = allennlp_slanted_triangular_run(3, 7, 0.3, 10)
    add("AllenNLP: 3 epochs x 7, cut = int(21 * 0.3) = 6", "{type: slanted_triangular, cut_frac: 0.3, ratio: 10.0}",
        21, list(range(21)), run)
    run = allennlp_slanted_triangular_run(1, 5, 0.1, 32)
    add("AllenNLP: 5 updates, cut = int(0.5) = 0: no rise", "{type: slanted_triangular, cut_frac: 0.1}", 5,
        list(range(5)), run)
    return {"about": "written by make_optim_fixtures.py; factor(step, total) with 0-based steps", "cases": cases}


def write(name, obj):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    write("adamw_steps.json", optimizer_fixture())
    write("schedules.json", schedule_fixture())
    print("wrote adamw_steps.json and schedules.json")
