// SPDX-License-Identifier: Apache-2.0
// A custom training stage in one file, on the SDK's Trainer: `distill_mix` trains a student with a frozen teacher
// (an earlier stage's model) and its own loss mix, alpha x cross-entropy + (1 - alpha) x T^2 x KL(teacher || student)
// at temperature T, and records how often the student agrees with the teacher. Loop, accumulation, bf16,
// checkpoints and resume, model selection, metrics and outputs are the Trainer's. Used by
// tests/scripts/test_out_of_tree.sh.
#include <stagehand/engine.h>
#include <stagehand/plugin.h>
#include <stagehand/sdk/train/teacher.h>
#include <stagehand/sdk/train/trainer.h>

namespace {

namespace st = stagehand::sdk::train;
using stagehand::Batch;
using torch::Tensor;

class MixLoss final : public stagehand::Loss {
 public:
  MixLoss(double alpha, double t) : alpha_(alpha), t_(t) {}
  Tensor compute(const Batch& out, const Batch& batch, std::map<std::string, Tensor>& parts) override {
    const Tensor s = out.at("logits").to(torch::kFloat32), teacher = batch.at("teacher.logits");
    const Tensor ce = torch::cross_entropy_loss(s, batch.at("labels"));
    const Tensor p = torch::softmax(teacher / t_, -1);
    const Tensor kd = (p * (torch::log(p + 1e-12) - torch::log_softmax(s / t_, -1))).sum(-1).mean() * (t_ * t_);
    parts["ce"] = ce.detach();
    parts["kd"] = kd.detach();
    return alpha_ * ce + (1 - alpha_) * kd;
  }

 private:
  double alpha_, t_;
};

// Share of the examples where the student's argmax is the teacher's.
class Agreement final : public stagehand::Evaluator {
 public:
  void reset() override { same_ = all_ = 0; }
  void add(const Batch& out, const Batch& batch) override {
    same_ += (out.at("logits").argmax(-1) == batch.at("teacher.logits").argmax(-1)).sum().item<int64_t>();
    all_ += batch.at("teacher.logits").size(0);
  }
  std::map<std::string, double> compute() const override { return {{"teacher_agreement", double(same_) / all_}}; }
  std::string primary_metric() const override { return "teacher_agreement"; }

 private:
  int64_t same_ = 0, all_ = 0;
};

class DistillMixStage final : public stagehand::Stage {
 public:
  void run(stagehand::StageContext& ctx) override {
    const stagehand::Options& o = ctx.options();
    const st::TrainerOptions opts = st::TrainerOptions::from(o);
    torch::manual_seed(ctx.seed());
    st::Trainer::Parts parts;
    parts.data = ctx.build<stagehand::Dataset>("data");
    st::Trainer::check_data(*parts.data, opts);
    const auto spec = stagehand::fill_hints(o.node("model"), "model", parts.data->hints(), ctx.registry());
    parts.model = ctx.registry().create<stagehand::Model>(spec, ctx.build_context());
    parts.prepare = st::Teacher::live(st::frozen_model(ctx, o.get<std::string>("teacher")), opts.bf16).prepare();
    parts.loss = std::make_shared<MixLoss>(o.get<double>("alpha"), o.get<double>("temperature"));
    parts.optimizer = ctx.build<stagehand::Optimizer>("optimizer");
    parts.scheduler = ctx.build<stagehand::Scheduler>("scheduler");
    for (const auto& e : o.node("evaluators").items())
      parts.evaluators.push_back(ctx.registry().create<stagehand::Evaluator>(e, ctx.build_context()));
    st::Evaluation agreement(ctx, parts.data, {std::make_shared<Agreement>()}, opts.batch_size, nullptr, parts.prepare);
    st::Trainer trainer(ctx, std::move(parts), opts);
    trainer.train();
    trainer.finish();
    if (agreement.has(opts.eval_split))
      for (const auto& [k, v] : agreement.run(trainer.model(), opts.eval_split)) ctx.metric(k, v);
  }
};

}  // namespace

STAGEHAND_PLUGIN(registrar) {
  using stagehand::parse_yaml;
  registrar
      .add<stagehand::Stage>(
          "distill_mix", "train a student on a frozen teacher's logits with alpha x CE + (1 - alpha) x T^2 x KL",
          stagehand::Schema()
              .component("data", "dataset", "the training data (labelled)")
              .component("model", "model", "the student, e.g. {type: classifier, encoder: {...}}")
              .stage("teacher", "the stage whose model is the frozen teacher")
              .opt("alpha", 0.5, "weight of the cross-entropy with the labels").min(0).max(1)
              .opt("temperature", 2.0, "softmax temperature of the distillation term").min(0.01)
              .component("optimizer", "optimizer", parse_yaml("{type: adamw, lr: 1.0e-3}", "<default>"), "optimizer")
              .component("scheduler", "scheduler", parse_yaml("{type: constant}", "<default>"), "lr schedule")
              .list("evaluators", stagehand::OptionType::Component, stagehand::ConfigNode::sequence(), "metrics")
              .kind("evaluator")
              .extend(st::trainer_schema()),
          [](const stagehand::Options&) { return std::make_shared<DistillMixStage>(); })
      .with_provides({"model", "encoder"});
}
