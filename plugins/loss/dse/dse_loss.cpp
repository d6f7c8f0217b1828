// SPDX-License-Identifier: Apache-2.0
// Loss `dse`: DSE's student objective (Barkan et al. 2019, train/trainers/dse_trainer.py)
//   L = (1 - alpha) * L_task + alpha * L_KD
//   L_task  bce: BCEWithLogits of (B, 1) (or (B)) logits against 0/1 labels (binary tasks)
//           ce:  cross-entropy of (B, C) logits against class ids (multi-class tasks)
//           mse: mean squared error of (B, 1) (or (B)) logits against float labels (regression, STS-B)
//           auto: mse for float labels, bce for one logit per example, ce for (B, C > 1)
//   L_KD    mean over the batch of sum_c (z_c - t_c)^2, t = the teacher's logits (batch tensor `teacher`)
//           A (B, 1) student against a (B, 2) teacher (a two-class cross-encoder) learns t = t_1 - t_0, the
//           teacher's log-odds (binary_target: auto or difference).
//   reads   outputs `logits` (B, C); `labels` (B) and `teacher.logits` (B, C') from the outputs or the batch
//   returns the scalar L; parts "task" and "kd" (each before weighting)
// alpha = 0 reads no teacher logits, alpha = 1 no labels; the unused part is reported as 0.
#include <torch/nn/functional/loss.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/loss_targets.h>

namespace stagehand {
namespace {

namespace F = torch::nn::functional;
const std::string kOwner = "loss 'dse'";

class DseLoss : public Loss {
 public:
  explicit DseLoss(const Options& o)
      : logits_(o.get<std::string>("logits")),
        labels_(o.get<std::string>("labels")),
        teacher_(o.get<std::string>("teacher")),
        task_(o.get<std::string>("task")),
        binary_target_(o.get<std::string>("binary_target")),
        alpha_(o.get<double>("alpha")) {}

  torch::Tensor compute(const Batch& outputs, const Batch& batch,
                        std::map<std::string, torch::Tensor>& parts) override {
    const torch::Tensor& z = sdk::find_tensor(outputs, batch, logits_, kOwner, "logits");
    torch::Tensor task = alpha_ < 1 ? task_loss(z, sdk::find_tensor(outputs, batch, labels_, kOwner,
                                                                            "labels"))
                                    : z.sum() * 0.0;
    torch::Tensor kd = alpha_ > 0
                           ? kd_loss(z, sdk::find_tensor(outputs, batch, teacher_, kOwner, "teacher"))
                           : z.sum() * 0.0;
    parts["task"] = task.detach();
    parts["kd"] = kd.detach();
    if (alpha_ <= 0) return task;
    if (alpha_ >= 1) return kd;
    return (1 - alpha_) * task + alpha_ * kd;
  }

 private:
  static bool one_logit(const torch::Tensor& z) { return z.dim() == 1 || (z.dim() == 2 && z.size(1) == 1); }

  std::string resolve_task(const torch::Tensor& z, const torch::Tensor& labels) const {
    if (task_ != "auto") return task_;
    if (labels.is_floating_point()) return "mse";
    return one_logit(z) ? "bce" : "ce";
  }

  torch::Tensor task_loss(const torch::Tensor& z, const torch::Tensor& labels) const {
    const std::string task = resolve_task(z, labels);
    if (task == "ce") {
      auto [logits, y] = sdk::flatten_class_targets(z, labels, kOwner);
      return F::cross_entropy(logits, y);
    }
    SH_CHECK(one_logit(z) && z.size(0) == labels.numel(),
             "{}: task '{}' needs one logit per example, (B, 1) or (B), and B labels, but the logits have shape {} "
             "and the labels {}; for (B, C) logits and class ids use task: ce (or fc_dims ending in 1)",
             kOwner, task, sdk::shape(z), sdk::shape(labels));
    auto x = z.reshape({-1});
    auto y = labels.reshape({-1}).to(x.scalar_type());
    if (task == "bce") {
      SH_CHECK(((y == 0) | (y == 1)).all().item<bool>(),
               "{}: task 'bce' needs 0/1 labels, but '{}' holds other values (min {}, max {}); use task: mse for "
               "regression targets or ce for class ids", kOwner, labels_, y.min().item<double>(),
               y.max().item<double>());
      return F::binary_cross_entropy_with_logits(x, y);
    }
    return F::mse_loss(x, y);
  }

  torch::Tensor kd_loss(const torch::Tensor& student, const torch::Tensor& teacher) const {
    auto z = student.dim() == 1 ? student.unsqueeze(-1) : student;
    auto t = (teacher.dim() == 1 ? teacher.unsqueeze(-1) : teacher).detach().to(z.scalar_type());
    const bool difference = binary_target_ == "difference" ||
                            (binary_target_ == "auto" && z.dim() == 2 && z.size(1) == 1 && t.dim() == 2 &&
                             t.size(1) == 2);
    if (difference) {
      SH_CHECK(t.dim() == 2 && t.size(1) == 2,
               "{}: binary_target 'difference' needs (B, 2) teacher logits in '{}', got shape {}; use "
               "binary_target: as_is for teacher targets that already are one score", kOwner, teacher_,
               sdk::shape(t));
      t = t.narrow(1, 1, 1) - t.narrow(1, 0, 1);
    }
    SH_CHECK(z.sizes() == t.sizes(),
             "{}: student logits {} and teacher logits '{}' {} differ in shape; expected the same shape, or a "
             "(B, 1) student with a (B, 2) teacher (binary_target: auto | difference)",
             kOwner, sdk::shape(z), teacher_, sdk::shape(t));
    return (z - t).pow(2).sum(-1).mean();
  }

  std::string logits_, labels_, teacher_, task_, binary_target_;
  double alpha_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Loss>(
      "dse",
      "DSE's distillation objective: (1 - alpha) * task loss (bce | ce | mse) + alpha * batch mean of "
      "sum_c (z_c - t_c)^2 against a teacher's logits",
      stagehand::Schema()
          .opt("alpha", 0.5, "weight of the distillation term; the task term gets 1 - alpha (0: labels only, 1: "
                             "teacher only)")
          .min(0)
          .max(1)
          .choice("task", "auto", {"auto", "bce", "ce", "mse"},
                  "task term: bce (one logit vs 0/1 labels), ce (class ids), mse (float targets); auto picks mse "
                  "for float labels, bce for (B, 1) logits, ce for (B, C > 1)")
          .opt("teacher", std::string("teacher.logits"), "name of the teacher's logits tensor (batch or outputs)")
          .choice("binary_target", "auto", {"auto", "difference", "as_is"},
                  "distillation target of a one-logit student: difference (t1 - t0 of (B, 2) teacher logits), "
                  "as_is (the teacher tensor itself); auto = difference for a (B, 1) student and (B, 2) teacher")
          .opt("logits", std::string("logits"), "name of the student's logits output")
          .opt("labels", std::string("labels"), "name of the label tensor (outputs first, then the batch)"),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::DseLoss>(o); });
}
