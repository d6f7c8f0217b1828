// SPDX-License-Identifier: Apache-2.0
// Losses: cross-entropy (label smoothing and class weights against torch's definition), MLM, and distillation
// (MSE and KL terms by hand, the binary z1 - z0 target, BCE and MSE tasks), each loaded from its plugin.
#include <gtest/gtest.h>

#include <cmath>

#include "plugin/loader.h"
#include "stagehand/model.h"

using namespace stagehand;

namespace {

class Losses : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* name : {"cross_entropy", "mlm", "distillation"}) {
      loader_.load(std::string(STAGEHAND_PLUGIN_DIR) + "/loss_" + name + ".so");
      ASSERT_TRUE(registry_.find("loss", name)) << "loss_" << name << ".so not loaded";
    }
  }
  std::shared_ptr<Loss> make(const std::string& yaml) {
    BuildContext ctx;
    ctx.registry = &registry_;
    ctx.seed = 1;
    return registry_.create<Loss>(parse_yaml(yaml, "test"), ctx);
  }
  Registry registry_;
  PluginLoader loader_{registry_};
};

torch::Tensor dbl(std::vector<double> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kDouble).reshape(shape);
}
torch::Tensor ids(std::vector<int64_t> v) { return torch::tensor(v, torch::kLong); }
double value(const torch::Tensor& t) { return t.item<double>(); }

// log(1 + e^-x): the logistic loss of log-odds x for the right class.
double softplus_neg(double x) { return std::log1p(std::exp(-x)); }

// torch's cross_entropy with weight w, label_smoothing eps and ignore_index, written out (LossNLL.cpp):
//   (1 - eps) * sum_i w[y_i] * -log p_i[y_i] / sum_i w[y_i]  +  eps / C * sum_i sum_c w[c] * -log p_i[c] / sum_i w[y_i]
// over the kept rows i.
double reference_ce(const std::vector<std::vector<double>>& logits, const std::vector<int64_t>& labels,
                    const std::vector<double>& w, double eps, int64_t ignore) {
  const size_t c = logits[0].size();
  double nll = 0, smooth = 0, den = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    if (labels[i] == ignore) continue;
    double z = 0;
    for (double x : logits[i]) z += std::exp(x);
    for (size_t k = 0; k < c; ++k) smooth += w[k] * -(logits[i][k] - std::log(z));
    nll += w[labels[i]] * -(logits[i][labels[i]] - std::log(z));
    den += w[labels[i]];
  }
  return (1 - eps) * nll / den + eps / static_cast<double>(c) * smooth / den;
}

}  // namespace

TEST_F(Losses, CrossEntropyByHand) {
  // Row 0: softmax [1/4, 1/2, 1/4]; row 1: softmax [3/5, 1/5, 1/5].
  Batch out, batch;
  out.set("logits", dbl({0, std::log(2.0), 0, std::log(3.0), 0, 0}, {2, 3}));
  batch.set("labels", ids({1, 0}));
  std::map<std::string, torch::Tensor> parts;
  auto loss = make("{type: cross_entropy}");
  EXPECT_NEAR(value(loss->compute(out, batch, parts)), (std::log(2.0) + std::log(5.0 / 3.0)) / 2, 1e-12);
  EXPECT_NEAR(value(parts.at("accuracy")), 1.0, 1e-7);

  batch.set("labels", ids({1, 2}));
  EXPECT_NEAR(value(loss->compute(out, batch, parts)), (std::log(2.0) + std::log(5.0)) / 2, 1e-12);
  EXPECT_NEAR(value(parts.at("accuracy")), 0.5, 1e-7);
}

TEST_F(Losses, CrossEntropySmoothingWeightsAndIgnoreIndexAsTorch) {
  const std::vector<std::vector<double>> rows = {{0, std::log(2.0), 0}, {std::log(3.0), 0, 0}, {1, -1, 0.5},
                                                 {0.2, 0.3, -0.4}};
  const std::vector<int64_t> labels = {1, 2, -100, 0};
  Batch out, batch;
  out.set("scores", dbl({0, std::log(2.0), 0, std::log(3.0), 0, 0, 1, -1, 0.5, 0.2, 0.3, -0.4}, {4, 3}));
  batch.set("y", ids(labels));
  std::map<std::string, torch::Tensor> parts;

  auto smooth = make("{type: cross_entropy, logits: scores, labels: y, label_smoothing: 0.1}");
  double got = value(smooth->compute(out, batch, parts));
  EXPECT_NEAR(got, reference_ce(rows, labels, {1, 1, 1}, 0.1, -100), 1e-12);
  EXPECT_NEAR(got, 1.101634174851371, 1e-12);  // Python torch 1.13 F.cross_entropy on the same input
  EXPECT_NEAR(value(parts.at("accuracy")), 1.0 / 3.0, 1e-6);  // row 0 right, rows 1 and 3 wrong, row 2 ignored

  auto weighted = make(
      "{type: cross_entropy, logits: scores, labels: y, label_smoothing: 0.1, class_weights: [1.0, 2.0, 0.5]}");
  got = value(weighted->compute(out, batch, parts));
  EXPECT_NEAR(got, reference_ce(rows, labels, {1, 2, 0.5}, 0.1, -100), 1e-12);
  EXPECT_NEAR(got, 0.9240703564889312, 1e-12);  // Python torch 1.13

  auto no_smoothing = make("{type: cross_entropy, logits: scores, labels: y, class_weights: [1.0, 2.0, 0.5]}");
  EXPECT_NEAR(value(no_smoothing->compute(out, batch, parts)), reference_ce(rows, labels, {1, 2, 0.5}, 0.0, -100),
              1e-12);
}

TEST_F(Losses, CrossEntropyErrorsNameTheProblem) {
  Batch out, batch;
  out.set("logits", dbl({0, 1, 2, 3}, {2, 2}));
  batch.set("labels", ids({0, 1}));
  std::map<std::string, torch::Tensor> parts;
  auto wrong_weights = make("{type: cross_entropy, class_weights: [1.0, 2.0, 3.0]}");
  try {
    wrong_weights->compute(out, batch, parts);
    FAIL() << "3 weights for 2 classes were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 weights but the logits have 2 classes"), std::string::npos) << e.what();
  }
  auto missing = make("{type: cross_entropy, labels: gold}");
  try {
    missing->compute(out, batch, parts);
    FAIL() << "a missing label tensor was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor 'gold'"), std::string::npos) << e.what();
  }
  batch.set("labels", torch::tensor({0.0, 1.0}));
  EXPECT_THROW(make("{type: cross_entropy}")->compute(out, batch, parts), Error);
}

TEST_F(Losses, CrossEntropyGradientIsSoftmaxMinusOneHot) {
  auto logits = dbl({0, std::log(2.0), 0}, {1, 3}).requires_grad_(true);
  Batch out, batch;
  out.set("logits", logits);
  batch.set("labels", ids({1}));
  std::map<std::string, torch::Tensor> parts;
  make("{type: cross_entropy}")->compute(out, batch, parts).backward();
  auto g = logits.grad();
  EXPECT_NEAR(g[0][0].item<double>(), 0.25, 1e-12);
  EXPECT_NEAR(g[0][1].item<double>(), -0.5, 1e-12);
  EXPECT_NEAR(g[0][2].item<double>(), 0.25, 1e-12);
}

TEST_F(Losses, MlmOnGatheredAndOnTokenLogits) {
  // Three masked positions over a vocabulary of 4: softmax rows [1/4]*4, [1/2, 1/6, 1/6, 1/6], [e^2, 1, 1, 1]/(e^2+3).
  Batch out, batch;
  out.set("mlm_logits", dbl({0, 0, 0, 0, std::log(3.0), 0, 0, 0, 2, 0, 0, 0}, {3, 4}));
  out.set("mlm_labels", ids({2, 0, 1}));
  std::map<std::string, torch::Tensor> parts;
  auto mlm = make("{type: mlm}");
  const double expected = (std::log(4.0) + std::log(2.0) + std::log(std::exp(2.0) + 3.0)) / 3.0;
  EXPECT_NEAR(value(mlm->compute(out, batch, parts)), expected, 1e-12);
  // argmax of row 0 is 0 (ties go to the first), label 2: wrong; row 1 right; row 2 wrong.
  EXPECT_NEAR(value(parts.at("mlm_accuracy")), 1.0 / 3.0, 1e-6);

  // The same positions inside a (1, 5, 4) sequence, the other positions ignored, labels from the batch.
  Batch seq_out, seq_batch;
  auto full = torch::zeros({1, 5, 4}, torch::kDouble);
  full[0][1] = out.at("mlm_logits")[0];
  full[0][3] = out.at("mlm_logits")[1];
  full[0][4] = out.at("mlm_logits")[2];
  full[0][0][3] = 9.0;  // an unmasked position with a confident wrong guess must not count
  seq_out.set("token_logits", full);
  seq_batch.set("token_labels", ids({-100, 2, -100, 0, 1}).reshape({1, 5}));
  auto seq = make("{type: mlm, logits: token_logits, labels: token_labels}");
  EXPECT_NEAR(value(seq->compute(seq_out, seq_batch, parts)), expected, 1e-12);
  EXPECT_NEAR(value(parts.at("mlm_accuracy")), 1.0 / 3.0, 1e-6);

  // Nothing masked: a zero loss that still backpropagates (no NaN from 0/0).
  auto logits = torch::zeros({1, 2, 4}, torch::kDouble).requires_grad_(true);
  seq_out.set("token_logits", logits);
  seq_batch.set("token_labels", ids({-100, -100}).reshape({1, 2}));
  auto zero = seq->compute(seq_out, seq_batch, parts);
  EXPECT_EQ(value(zero), 0.0);
  zero.backward();
  EXPECT_TRUE(torch::equal(logits.grad(), torch::zeros_like(logits)));
  EXPECT_EQ(value(parts.at("mlm_accuracy")), 0.0);
}

TEST_F(Losses, DistillationMseIsTheDseSumOverClasses) {
  // Student [[1, 2], [0, 1]], teacher [[0, 0], [1, 1]]: sum_c (z - t)^2 = 5 and 1, batch mean 3.
  // Task CE with labels [1, 1]: each row is log(1 + e^-1).
  Batch out, batch;
  out.set("logits", dbl({1, 2, 0, 1}, {2, 2}));
  batch.set("labels", ids({1, 1}));
  batch.set("teacher.logits", dbl({0, 0, 1, 1}, {2, 2}));
  std::map<std::string, torch::Tensor> parts;
  auto loss = make("{type: distillation, kd: mse}");
  EXPECT_NEAR(value(loss->compute(out, batch, parts)), 0.5 * softplus_neg(1.0) + 0.5 * 3.0, 1e-12);
  EXPECT_NEAR(value(parts.at("task")), softplus_neg(1.0), 1e-12);
  EXPECT_NEAR(value(parts.at("kd")), 3.0, 1e-12);

  auto weighted = make("{type: distillation, kd: mse, task_weight: 0.25, teacher_weight: 2.0}");
  EXPECT_NEAR(value(weighted->compute(out, batch, parts)), 0.25 * softplus_neg(1.0) + 2.0 * 3.0, 1e-12);
}

TEST_F(Losses, DistillationKlIsHintonsSoftenedKlTimesTSquared) {
  // T = 2: teacher [2, 0] -> p = softmax([1, 0]); student [1, 2] -> q = softmax([0.5, 1]).
  Batch out, batch;
  out.set("logits", dbl({1, 2}, {1, 2}));
  batch.set("labels", ids({0}));
  batch.set("teacher.logits", dbl({2, 0}, {1, 2}));
  std::map<std::string, torch::Tensor> parts;
  const double e = std::exp(1.0), s = std::exp(0.5);
  const double p0 = e / (e + 1), p1 = 1 / (e + 1);
  const double q0 = 1 / (1 + s), q1 = s / (1 + s);
  const double kl = p0 * std::log(p0 / q0) + p1 * std::log(p1 / q1);
  auto loss = make("{type: distillation, kd: kl, temperature: 2.0, task_weight: 0.0, teacher_weight: 1.0}");
  EXPECT_NEAR(value(loss->compute(out, batch, parts)), 4.0 * kl, 1e-12);
  EXPECT_NEAR(value(parts.at("kd")), 4.0 * kl, 1e-12);
  EXPECT_EQ(value(parts.at("task")), 0.0);

  // Identical distributions: no distillation loss at any temperature.
  batch.set("teacher.logits", dbl({1, 2}, {1, 2}));
  EXPECT_NEAR(value(loss->compute(out, batch, parts)), 0.0, 1e-12);
}

TEST_F(Losses, DistillationBinaryStudentLearnsTheTeachersLogOdds) {
  // A (B, 1) student against a (B, 2) teacher: t = z1 - z0 = [3 - 1, 0.5 - 2] = [2, -1.5].
  auto student = dbl({0.5, -1.0}, {2, 1}).requires_grad_(true);
  auto teacher = dbl({1, 3, 2, 0.5}, {2, 2}).requires_grad_(true);
  Batch out, batch;
  out.set("logits", student);
  batch.set("labels", torch::tensor({1.0, 0.0}, torch::kDouble));
  batch.set("teacher.logits", teacher);
  std::map<std::string, torch::Tensor> parts;
  auto mse = make("{type: distillation, task: bce, kd: mse}");
  // kd: ((0.5 - 2)^2 + (-1 + 1.5)^2) / 2 = 1.25. BCE: label 1 at 0.5, label 0 at -1.
  const double bce = (softplus_neg(0.5) + softplus_neg(1.0)) / 2;
  auto total = mse->compute(out, batch, parts);
  EXPECT_NEAR(value(parts.at("kd")), 1.25, 1e-12);
  EXPECT_NEAR(value(parts.at("task")), bce, 1e-12);
  EXPECT_NEAR(value(total), 0.5 * bce + 0.5 * 1.25, 1e-12);
  total.backward();
  // d/dz of 0.5 * mean((z - t)^2): (z - t) / 2 -> [-0.75, 0.25]; of 0.5 * BCE: (sigmoid(z) - y) / 4.
  auto sig = [](double x) { return 1 / (1 + std::exp(-x)); };
  EXPECT_NEAR(student.grad()[0][0].item<double>(), -0.75 + (sig(0.5) - 1) / 4, 1e-12);
  EXPECT_NEAR(student.grad()[1][0].item<double>(), 0.25 + sig(-1.0) / 4, 1e-12);
  EXPECT_FALSE(teacher.grad().defined()) << "the teacher must be a constant target";

  // KL of the Bernoulli distributions sigmoid(t / T) and sigmoid(z / T), T = 2.
  auto kl = make("{type: distillation, task: bce, kd: kl, temperature: 2.0}");
  kl->compute(out, batch, parts);
  double expected = 0;
  for (auto [z, t] : {std::pair{0.5, 2.0}, std::pair{-1.0, -1.5}}) {
    const double p = sig(t / 2), q = sig(z / 2);
    expected += p * std::log(p / q) + (1 - p) * std::log((1 - p) / (1 - q));
  }
  EXPECT_NEAR(value(parts.at("kd")), 4.0 * expected / 2, 1e-12);
}

TEST_F(Losses, DistillationRegressionTaskAndShapeErrors) {
  Batch out, batch;
  out.set("logits", dbl({0.5, 2.0}, {2, 1}));
  batch.set("labels", torch::tensor({1.0, 1.0}, torch::kDouble));
  batch.set("teacher.logits", dbl({1.0, 1.0}, {2, 1}));
  std::map<std::string, torch::Tensor> parts;
  auto loss = make("{type: distillation, task: mse, kd: mse}");
  EXPECT_NEAR(value(loss->compute(out, batch, parts)), 0.5 * 0.625 + 0.5 * 0.625, 1e-12);

  batch.set("teacher.logits", dbl({1, 2, 3, 4, 5, 6}, {2, 3}));
  try {
    loss->compute(out, batch, parts);
    FAIL() << "a (2, 1) student and a (2, 3) teacher were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("differ in shape"), std::string::npos) << e.what();
  }
  Batch no_teacher;
  no_teacher.set("labels", torch::tensor({1.0, 1.0}, torch::kDouble));
  EXPECT_THROW(loss->compute(out, no_teacher, parts), Error);
  EXPECT_THROW(make("{type: distillation, kd: cosine}"), Error);
}
