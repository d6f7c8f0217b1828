// SPDX-License-Identifier: Apache-2.0
// Loss `distillation`: task_weight * task + teacher_weight * kd, where the task term fits the labels and the kd
// term fits a teacher's logits (the batch tensor `teacher.logits`, added by the train stage).
//   kd: mse  mean over the batch of sum_c (z_c - t_c)^2          (DSE, Barkan et al. 2019)
//   kd: kl   T^2 * KL(softmax(t / T) || softmax(z / T))         (Hinton et al. 2015)
// A single-logit binary student learns a two-logit teacher through t = z1 - z0, the teacher's log-odds.
#include <torch/nn/functional/loss.h>

#include <stagehand/model.h>
#include <stagehand/plugin.h>

#include <stagehand/sdk/loss_targets.h>

namespace stagehand {
namespace {

namespace F = torch::nn::functional;
const std::string kOwner = "loss/distillation";

class DistillationLoss : public Loss {
 public:
  explicit DistillationLoss(const Options& o)
      : logits_(o.get<std::string>("logits")),
        labels_(o.get<std::string>("labels")),
        teacher_(o.get<std::string>("teacher")),
        task_(o.get<std::string>("task")),
        kd_(o.get<std::string>("kd")),
        temperature_(o.get<double>("temperature")),
        task_weight_(o.get<double>("task_weight")),
        teacher_weight_(o.get<double>("teacher_weight")),
        ignore_index_(o.get<int64_t>("ignore_index")) {
    SH_CHECK(temperature_ > 0, "{}: option 'temperature' is {}; expected a value > 0 (1 = no softening)", kOwner,
             temperature_);
  }

  torch::Tensor compute(const Batch& outputs, const Batch& batch,
                        std::map<std::string, torch::Tensor>& parts) override {
    const torch::Tensor& z = sdk::find_tensor(outputs, batch, logits_, kOwner, "logits");
    torch::Tensor task = task_weight_ != 0 ? task_loss(z, sdk::find_tensor(outputs, batch, labels_, kOwner,
                                                                                   "labels"))
                                           : z.sum() * 0.0;
    torch::Tensor kd = teacher_weight_ != 0
                           ? kd_loss(z, sdk::find_tensor(outputs, batch, teacher_, kOwner, "teacher"))
                           : z.sum() * 0.0;
    parts["task"] = task.detach();
    parts["kd"] = kd.detach();
    return task_weight_ * task + teacher_weight_ * kd;
  }

 private:
  torch::Tensor task_loss(const torch::Tensor& z, const torch::Tensor& labels) const {
    if (task_ == "ce") {
      auto [logits, y] = sdk::flatten_class_targets(z, labels, kOwner);
      if (!(y != ignore_index_).any().item<bool>()) return logits.sum() * 0.0;
      return F::cross_entropy(logits, y, F::CrossEntropyFuncOptions().ignore_index(ignore_index_));
    }
    SH_CHECK(z.numel() == labels.numel(),
             "{}: task '{}' needs one student output per target, but the logits have shape {} and the labels {}; "
             "for class ids and (B, C) logits use task: ce",
             kOwner, task_, sdk::shape(z), sdk::shape(labels));
    auto x = z.reshape(labels.sizes());
    auto y = labels.to(z.scalar_type());
    if (task_ == "bce") return F::binary_cross_entropy_with_logits(x, y);
    return F::mse_loss(x, y);
  }

  torch::Tensor kd_loss(const torch::Tensor& student, const torch::Tensor& teacher) const {
    auto z = student.dim() == 1 ? student.unsqueeze(-1) : student;
    auto t = (teacher.dim() == 1 ? teacher.unsqueeze(-1) : teacher).detach().to(z.scalar_type());
    // The teacher's log-odds are the target of a one-logit binary student (softmax is shift-invariant).
    if (z.size(-1) == 1 && t.size(-1) == 2 && t.dim() == z.dim()) t = t.narrow(-1, 1, 1) - t.narrow(-1, 0, 1);
    SH_CHECK(z.sizes() == t.sizes(),
             "{}: student logits {} and teacher logits '{}' {} differ in shape; expected the same shape, or a "
             "(B, 1) student with a (B, 2) teacher",
             kOwner, sdk::shape(z), teacher_, sdk::shape(t));
    if (kd_ == "mse") return (z - t).pow(2).sum(-1).mean();
    if (z.size(-1) == 1) {
      // One logit is a Bernoulli: as a two-class softmax it is [0, z].
      z = torch::cat({torch::zeros_like(z), z}, -1);
      t = torch::cat({torch::zeros_like(t), t}, -1);
    }
    auto log_p_teacher = torch::log_softmax(t / temperature_, -1);
    auto log_p_student = torch::log_softmax(z / temperature_, -1);
    auto kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(-1).mean();
    return kl * (temperature_ * temperature_);
  }

  std::string logits_, labels_, teacher_, task_, kd_;
  double temperature_, task_weight_, teacher_weight_;
  int64_t ignore_index_;
};

}  // namespace
}  // namespace stagehand

STAGEHAND_PLUGIN(registrar) {
  registrar.add<stagehand::Loss>(
      "distillation", "task loss on the labels plus a knowledge-distillation term on a teacher's logits (MSE or KL)",
      stagehand::Schema()
          .opt("logits", std::string("logits"), "name of the student's (B, C) or (B, 1) logits output")
          .opt("labels", std::string("labels"), "name of the label tensor (outputs first, then the batch)")
          .opt("teacher", std::string("teacher.logits"), "name of the teacher's logits tensor in the batch")
          .choice("task", "ce", {"ce", "bce", "mse"},
                  "task term: ce (class ids), bce (one logit vs 0/1 targets), mse (regression targets)")
          .choice("kd", "mse", {"mse", "kl"},
                  "distillation term: mse (batch mean of sum_c (z_c - t_c)^2) or kl (T^2 * KL(teacher || student))")
          .opt("temperature", 1.0, "softmax temperature T of kd: kl (ignored by kd: mse)")
          .min(1e-6)
          .opt("task_weight", 0.5, "weight of the task term")
          .min(0)
          .opt("teacher_weight", 0.5, "weight of the distillation term")
          .min(0)
          .opt("ignore_index", int64_t{-100}, "labels with this value are skipped by task: ce"),
      [](const stagehand::Options& o) { return std::make_shared<stagehand::DistillationLoss>(o); });
}
