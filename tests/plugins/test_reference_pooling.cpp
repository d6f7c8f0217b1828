// SPDX-License-Identifier: Apache-2.0
// The pooled vectors the shipped seeds use, on a Hugging Face BERT checkpoint (tests/data/hf-bert-tiny) against
// references made from that checkpoint's own outputs (tests/data/pooling/make_pooled_reference.py):
//  - the SPECTER classifier (pipelines/specter-classifier.yaml) feeds its head the pooler output, as the seed's
//    SPECTERClassifier feeds `SPECTER_output[1]` (Hugging Face's pooler_output: dense + tanh on [CLS]);
//  - a DSE student (pipelines/dse.yaml) pools with concat_top_mean: the top k layers concatenated, averaged over the
//    positions after [CLS] that are not padding.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <stagehand/batch.h>
#include <stagehand/model.h>

#include "support/plugin_support.h"

namespace {

namespace fs = std::filesystem;
using stagehand::Batch;
using stagehand::Model;

const fs::path kHf = fs::path(STAGEHAND_TEST_DATA) / "hf-bert-tiny";

stagehand::Registry& registry() {
  static stagehand::Registry* r =
      sh_test::load_plugins({"encoder_hf", "encoder_transformer", "model_classifier", "model_siamese", "head_mlp"});
  return *r;
}

nlohmann::json read_json(const fs::path& f) {
  std::ifstream in(f);
  return nlohmann::json::parse(in);
}

torch::Tensor rows(const nlohmann::json& j, torch::ScalarType t) {
  std::vector<torch::Tensor> out;
  for (const auto& r : j) out.push_back(torch::tensor(r.get<std::vector<double>>()).to(t));
  return torch::stack(out);
}

struct Cases {
  torch::Tensor ids, types, mask;
};
Cases cases() {
  auto c = read_json(kHf / "cases.json");
  return {rows(c["input_ids"], torch::kLong), rows(c["token_type_ids"], torch::kLong),
          rows(c["attention_mask"], torch::kLong)};
}

std::shared_ptr<Model> model(const std::string& yaml) {
  auto m = sh_test::make_component<Model>(registry(), yaml);
  m->eval();
  return m;
}

TEST(ReferencePooling, SpecterClassifierHeadReadsHuggingFacesPoolerOutput) {
  auto ref = read_json(fs::path(STAGEHAND_TEST_DATA) / "pooling" / "pooled_reference.json");
  Cases c = cases();
  auto clf = model("{type: classifier, num_labels: 19, pooling: pooler, encoder: {type: hf, path: " + kHf.string() +
                   "}}");
  Batch b;
  b.set("input_ids", c.ids);
  b.set("token_type_ids", c.types);
  b.set("attention_mask", c.mask);
  torch::NoGradGuard ng;
  torch::Tensor pooled = clf->forward(b).at("pooled");
  torch::Tensor want = rows(ref["specter_pooler_output"], torch::kFloat);
  ASSERT_EQ(pooled.sizes(), want.sizes());
  EXPECT_LT((pooled - want).abs().max().item<double>(), 1e-5);
  // [CLS] alone is not it: the test tells the two apart.
  auto cls = model("{type: classifier, num_labels: 19, pooling: cls, encoder: {type: hf, path: " + kHf.string() + "}}");
  EXPECT_GT((cls->forward(b).at("pooled") - want).abs().max().item<double>(), 1e-2);
}

TEST(ReferencePooling, DseConcatTopMeanOfHuggingFaceBertMatchesTheFormula) {
  auto ref = read_json(fs::path(STAGEHAND_TEST_DATA) / "pooling" / "pooled_reference.json");
  Cases c = cases();
  std::vector<int64_t> which = ref["dse_cases"].get<std::vector<int64_t>>();
  ASSERT_FALSE(which.empty());
  torch::Tensor idx = torch::tensor(which);
  auto student = model("{type: siamese, pooler: concat_top_mean, num_top_layers: " +
                       std::to_string(ref["dse_num_top_layers"].get<int>()) +
                       ", fc_dims: [512, 1], encoder: {type: hf, path: " + kHf.string() + "}}");
  Batch b;  // one sentence per example, as a DSE student embeds it
  b.set("input_ids", c.ids.index_select(0, idx));
  b.set("attention_mask", c.mask.index_select(0, idx));
  torch::NoGradGuard ng;
  torch::Tensor u = student->forward(b).at("embeddings");
  torch::Tensor want = rows(ref["dse_concat_top_mean"], torch::kFloat);
  ASSERT_EQ(u.sizes(), want.sizes());  // 2 layers x hidden 64
  EXPECT_LT((u - want).abs().max().item<double>(), 1e-5);
}

}  // namespace
