// SPDX-License-Identifier: Apache-2.0
// Hugging Face heads in and out, against transformers' own outputs (tests/data/hf-tiny and hf-bert-tiny, written
// with transformers 4.30.0):
//  - a pretraining folder as a model (`model: {type: hf, path}`): ElectraForPreTraining's replaced-token-detection
//    logits, AlbertForPreTraining's sentence-order logits and BertForPreTraining's next-sentence logits, from both
//    weight formats, within 1e-5;
//  - an `electra` pretraining model from two folders (discriminator, then generator with the shared embeddings):
//    the generator's MLM logits equal transformers' ElectraForMaskedLM, the discriminator's head is the folder's,
//    and a generator of another architecture is refused with the fix;
//  - export: the mlm model's head as <Type>ForMaskedLM and ELECTRA's discriminator and generator hold exactly the
//    tensor names and values of transformers' own files; token-classification and QA heads are written under
//    classifier.* / qa_outputs.* with id2label, and the folder read back computes the same logits as the formula
//    (one linear layer over the last hidden states).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/plugin_support.h"
#include "stagehand/tokenizer.h"
#include "support/test_support.h"
#include "stagehand/encoder.h"
#include "stagehand/files.h"
#include "stagehand/model.h"
#include "stagehand/safetensors.h"
#include "stagehand/sdk/hf_checkpoint.h"

using namespace stagehand;
using sh_test::TempFolder;
namespace fs = std::filesystem;
using torch::Tensor;

namespace {

const fs::path kDir = fs::path(STAGEHAND_TEST_DATA) / "hf-tiny";
const fs::path kBert = fs::path(STAGEHAND_TEST_DATA) / "hf-bert-tiny";

Registry& registry() {
  static Registry* reg = sh_test::load_plugins({"encoder_transformer", "encoder_hf", "model_mlm", "model_electra",
                                                "model_classifier", "model_tagger", "model_extractive_qa",
                                                "head_mlp", "tokenizer_wordpiece", "tokenizer_bpe"});
  return *reg;
}

double max_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

Batch batch_of(const fs::path& folder) {
  const auto cases = nlohmann::json::parse(read_file(folder / "cases.json"));
  Batch b;
  b.set("input_ids", sh_test::int_rows(cases.at("input_ids")));
  b.set("attention_mask", sh_test::int_rows(cases.at("attention_mask")));
  if (cases.contains("token_type_ids")) b.set("token_type_ids", sh_test::int_rows(cases.at("token_type_ids")));
  return b;
}

/// A copy of `from` (config.json and the one weights file) in `to`.
fs::path copy_folder(const fs::path& from, const fs::path& to, const std::string& weights = "model.safetensors") {
  fs::create_directories(to);
  fs::copy_file(from / "config.json", to / "config.json");
  fs::copy_file(from / weights, to / weights);
  return to;
}

std::shared_ptr<Model> model_of(const std::string& yaml) { return sh_test::make_component<Model>(registry(), yaml, 3); }

/// The tensors of a model.safetensors file, the position_ids buffer left out (transformers 4.30 saves it, we do
/// not: it is arange, rebuilt by every reader).
std::map<std::string, Tensor> weights_of(const fs::path& file) {
  auto t = load_safetensors(file);
  for (auto it = t.begin(); it != t.end();) it = it->first.find("position_ids") != std::string::npos ? t.erase(it) : ++it;
  return t;
}

void expect_same_tensors(const std::map<std::string, Tensor>& got, const std::map<std::string, Tensor>& want) {
  std::vector<std::string> a, b;
  for (const auto& [k, v] : got) a.push_back(k);
  for (const auto& [k, v] : want) b.push_back(k);
  EXPECT_EQ(a, b);
  for (const auto& [k, v] : want)
    if (got.count(k)) EXPECT_TRUE(torch::equal(got.at(k), v)) << k;
}

}  // namespace

// ElectraForPreTraining -> electra_discriminator, AlbertForPreTraining -> the SOP classifier, BertForPreTraining ->
// the NSP classifier: each head's logits as transformers computed them, from either weights file.
TEST(HfHeads, PretrainingHeadsMatchTransformersFromBothWeightFormats) {
  struct Case {
    fs::path folder;
    std::string output, expected;
    std::vector<std::string> labels;
  };
  const std::vector<Case> cases = {{kDir / "electra-discriminator", "rtd_logits", "rtd_logits", {}},
                                   {kDir / "albert", "logits", "sop_logits", {"in_order", "swapped"}},
                                   {kBert, "logits", "nsp_logits", {"is_next", "random"}}};
  for (const Case& c : cases) {
    const auto expected = load_safetensors(c.folder / "expected.safetensors");
    for (const std::string weights : {"model.safetensors", "pytorch_model.bin"}) {
      SCOPED_TRACE(c.folder.filename().string() + " from " + weights);
      TempFolder tmp;
      const fs::path dir = copy_folder(c.folder, tmp / "m", weights);
      auto model = model_of(fmt::format("{{type: hf, path: {}}}", dir.string()));
      model->eval();
      torch::NoGradGuard no_grad;
      const Tensor got = model->forward(batch_of(c.folder)).at(c.output);
      const Tensor& want = expected.at(c.expected);
      ASSERT_EQ(got.sizes(), want.sizes());
      EXPECT_LE(max_diff(got, want), 1e-5);
      EXPECT_EQ(hf::label_names(dir), c.labels);
    }
  }
  // Fine-tuning from a pretraining folder starts a new classifier, as <Type>ForSequenceClassification's
  // from_pretrained does: the NSP head is not taken for it.
  auto cls = model_of(fmt::format("{{type: classifier, num_labels: 2, pooling: pooler, head: {{type: mlp, hidden: []}}, "
                                  "encoder: {{type: hf, path: {}}}}}", kBert.string()));
  const ConfigNode spec = cls->spec();
  const hf::ModelLoad r = hf::load_model(*cls, hf::read_folder(kBert), "encoder", &spec);
  EXPECT_EQ(r.fresh.size(), 2u);
}

// A <Type>ForMaskedLM folder is an mlm model whose special ids are its tokenizer's; given the positions to predict
// (mlm_positions: what `runner predict` passes for the [MASK]s typed in a text) it predicts there on the input as
// it is: transformers' MLM logits of every token of the fixture's first case, within atol 1e-4 + rtol 1e-6 (the
// atol transformers' own integration tests use for logits: a 50k-word RoBERTa head's fp32 sums differ by 1e-5 from
// one BLAS kernel to another).
TEST(HfHeads, AMaskedLmFolderPredictsAtTheGivenPositionsAsTransformers) {
  for (const char* arch : {"roberta", "electra-generator", "distilbert"}) {
    SCOPED_TRACE(arch);
    const fs::path folder = kDir / arch;
    auto model = model_of(fmt::format("{{type: hf, path: {}}}", folder.string()));
    EXPECT_EQ(model->spec().at("type").as_string(), "mlm");
    model->eval();
    torch::NoGradGuard no_grad;
    Batch b = batch_of(folder);
    const auto cases = nlohmann::json::parse(read_file(folder / "cases.json"));
    const int64_t len0 = cases.at("lengths").at(0).get<int64_t>();
    Tensor positions = torch::zeros_like(b.at("input_ids"), torch::kBool);
    positions[0].narrow(0, 0, len0).fill_(true);
    b.set("mlm_positions", positions);
    const Batch out = model->forward(b);
    EXPECT_TRUE(torch::equal(out.at("mlm_input_ids"), b.at("input_ids")));  // nothing masked or replaced
    const Tensor got = out.at("mlm_logits"), want = load_safetensors(folder / "expected.safetensors").at("mlm_logits_case0");
    ASSERT_EQ(got.sizes(), want.sizes());
    EXPECT_LE(((got - want).abs() - 1e-6 * want.abs()).max().item<double>(), 1e-4) << max_diff(got, want);
  }
}

namespace {

const char* const kElectraIds = "mask_id: 103, pad_id: 0, cls_id: 101, sep_id: 102";

/// The electra model as the train stage builds it from two folders: the discriminator's (init_hf), then the
/// generator's (init_hf_generator), every candidate token chosen and kept so that the generator sees the text as is.
std::shared_ptr<Model> electra_from(const fs::path& disc, const fs::path& gen, hf::GeneratorLoad* load) {
  auto model = model_of(fmt::format("{{type: electra, encoder: {{type: hf, path: {}}}, generator: {{type: hf, path: "
                                    "{}}}, mask_prob: 1.0, replace_mask: 0.0, max_predictions: 64, {}}}",
                                    disc.string(), gen.string(), kElectraIds));
  const ConfigNode spec = model->spec();
  const hf::ModelLoad r = hf::load_model(*model, hf::read_folder(disc), "encoder", &spec);
  EXPECT_NE(std::find(r.heads.begin(), r.heads.end(), "discriminator_predictions.dense.weight"), r.heads.end());
  *load = hf::load_generator(*model, hf::read_folder(gen), /*keep_embeddings=*/true);
  return model;
}

}  // namespace

// The fixture's two folders were drawn independently, so their embedding tables differ; released ELECTRA pairs share
// them. A discriminator folder given the generator's tables makes such a pair: the generator's MLM logits are then
// transformers' ElectraForMaskedLM outputs.
TEST(HfHeads, AnElectraModelLoadsFromItsTwoFolders) {
  TempFolder tmp;
  const fs::path gen = kDir / "electra-generator";
  const fs::path disc = copy_folder(kDir / "electra-discriminator", tmp / "disc");
  auto tensors = load_safetensors(disc / "model.safetensors");
  const auto gen_tensors = load_safetensors(gen / "model.safetensors");
  for (auto& [name, t] : tensors)
    if (name.rfind("electra.embeddings.", 0) == 0) t = gen_tensors.at(name);
  save_safetensors(disc / "model.safetensors", tensors, {{"format", "pt"}});

  hf::GeneratorLoad load;
  auto model = electra_from(disc, gen, &load);
  EXPECT_EQ(load.embedding_difference, 0.0);
  EXPECT_EQ(load.heads.size(), 5u);  // generator_predictions.{dense, LayerNorm}.{weight, bias}, generator_lm_head.bias
  model->eval();
  torch::NoGradGuard no_grad;
  const Batch b = batch_of(gen);
  const Batch out = model->forward(b);
  const auto cases = nlohmann::json::parse(read_file(gen / "cases.json"));
  const int64_t len0 = cases.at("lengths").at(0).get<int64_t>();
  const Tensor chosen = out.at("masked")[0].narrow(0, 0, len0);
  const int64_t n = chosen.sum().item<int64_t>();
  ASSERT_GT(n, 3);
  EXPECT_TRUE(torch::equal(out.at("generator_input_ids"), b.at("input_ids")));  // every chosen token kept
  const Tensor got = out.at("mlm_logits").narrow(0, 0, n);
  const Tensor want = load_safetensors(gen / "expected.safetensors").at("mlm_logits_case0").index({chosen});
  EXPECT_LE(((got - want).abs() - 1e-6 * want.abs()).max().item<double>(), 1e-5) << max_diff(got, want);
  const auto params = model->named_parameters();
  EXPECT_TRUE(torch::equal(*params.find("discriminator_predictions.dense_prediction.weight"),
                           tensors.at("discriminator_predictions.dense_prediction.weight")));

  // The fixture's own discriminator keeps its tables; the difference is reported.
  hf::GeneratorLoad apart;
  electra_from(kDir / "electra-discriminator", gen, &apart);
  EXPECT_GT(apart.embedding_difference, 1.0);

  // A generator built from the discriminator's size (generator_size) is not the folder's: refused with the fix.
  auto derived = model_of(fmt::format("{{type: electra, encoder: {{type: hf, path: {}}}, generator_size: 0.5, "
                                      "max_predictions: 8, {}}}", disc.string(), kElectraIds));
  const std::string e = sh_test::error_of([&] { hf::load_generator(*derived, hf::read_folder(gen), true); });
  EXPECT_NE(e.find("hidden_size 32 here, 48 in the folder"), std::string::npos) << e;
  EXPECT_NE(e.find("generator: {type: hf, path: FOLDER}"), std::string::npos) << e;
}

// What export writes for a model imported from transformers' own files is those files: the same tensor names and
// values, under the same class name.
TEST(HfHeads, ExportedMaskedLmAndElectraHeadsAreTransformersOwnFiles) {
  struct Case {
    std::string folder, yaml, type, architecture;
  };
  const std::vector<Case> cases = {
      {"roberta", "{{type: mlm, encoder: {{type: hf, path: {}}}, mask_id: 2004, pad_id: 1, cls_id: 0, sep_id: 2}}",
       "roberta", "RobertaForMaskedLM"},
      {"electra-generator", "{{type: mlm, encoder: {{type: hf, path: {}}}, mask_id: 103, pad_id: 0, cls_id: 101, sep_id: 102}}", "electra",
       "ElectraForMaskedLM"},
      {"albert", "{{type: mlm, encoder: {{type: hf, path: {}}}, mask_id: 4, pad_id: 0, cls_id: 2, sep_id: 3}}",
       "albert", "AlbertForMaskedLM"},
      {"electra-discriminator", "{{type: hf, path: {}}}", "electra", "ElectraForPreTraining"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.folder);
    const fs::path from = kDir / c.folder;
    auto model = model_of(fmt::vformat(c.yaml, fmt::make_format_args(from.string())));
    const ConfigNode spec = model->spec();
    const hf::ModelLoad r = hf::load_model(*model, hf::read_folder(from), "encoder", &spec);
    EXPECT_TRUE(r.fresh.empty()) << fmt::format("{}", fmt::join(r.fresh, ", "));
    TempFolder tmp;
    ASSERT_EQ(hf::write_folder(tmp / "out", *model->encoder(), model->encoder()->spec(), c.type), c.type);
    ASSERT_EQ(hf::add_head(tmp / "out", *model, spec, c.type), "");
    auto want = weights_of(from / "model.safetensors");
    if (c.folder == "albert")  // AlbertForMaskedLM has no sentence-order head
      for (const char* k : {"sop_classifier.classifier.weight", "sop_classifier.classifier.bias"}) want.erase(k);
    expect_same_tensors(weights_of(tmp / "out" / "model.safetensors"), want);
    EXPECT_EQ(nlohmann::json::parse(read_file(tmp / "out" / "config.json")).at("architectures")[0], c.architecture);
  }
}

TEST(HfHeads, AnElectraPretrainingModelExportsBothFolders) {
  TempFolder tmp;
  const fs::path gen = kDir / "electra-generator";
  hf::GeneratorLoad load;
  auto model = electra_from(kDir / "electra-discriminator", gen, &load);
  const ConfigNode spec = model->spec();
  ASSERT_EQ(hf::write_folder(tmp / "hf", *model->encoder(), model->encoder()->spec(), "electra"), "electra");
  ASSERT_EQ(hf::add_head(tmp / "hf", *model, spec, "electra"), "");
  expect_same_tensors(weights_of(tmp / "hf" / "model.safetensors"),
                      weights_of(kDir / "electra-discriminator" / "model.safetensors"));
  hf::write_generator(tmp / "hf-generator", *model, spec);
  // The generator folder holds the generator's own tensors and head, with the (shared) discriminator's tables.
  auto want = weights_of(gen / "model.safetensors");
  const auto disc = load_safetensors(kDir / "electra-discriminator" / "model.safetensors");
  for (auto& [name, t] : want)
    if (name.rfind("electra.embeddings.", 0) == 0) t = disc.at(name);
  expect_same_tensors(weights_of(tmp / "hf-generator" / "model.safetensors"), want);
  const auto config = nlohmann::json::parse(read_file(tmp / "hf-generator" / "config.json"));
  EXPECT_EQ(config.at("architectures")[0], "ElectraForMaskedLM");
  EXPECT_EQ(config.at("hidden_size"), 48);
}

// ForTokenClassification and ForQuestionAnswering are one linear layer over the last hidden states (dropout off):
// the exported folder, read back as a model, computes exactly that with the tensors under transformers' names.
TEST(HfHeads, TokenAndQuestionAnsweringHeadsExportUnderTransformersNames) {
  const std::string enc = fmt::format("encoder: {{type: hf, path: {}}}", kBert.string());
  const Batch b = batch_of(kBert);
  struct Case {
    std::string yaml, architecture, weight;
    std::vector<std::string> labels;
  };
  const std::vector<Case> cases = {
      {"{type: tagger, num_labels: 3, " + enc + "}", "BertForTokenClassification", "classifier", {"O", "B-X", "I-X"}},
      {"{type: extractive_qa, " + enc + "}", "BertForQuestionAnswering", "qa_outputs", {}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.architecture);
    auto model = model_of(c.yaml);
    TempFolder tmp;
    const fs::path dir = tmp / "out";
    hf::write_folder(dir, *model->encoder(), model->encoder()->spec(), "bert");
    ASSERT_EQ(hf::add_head(dir, *model, model->spec(), "bert", c.labels), "");
    const auto config = nlohmann::json::parse(read_file(dir / "config.json"));
    EXPECT_EQ(config.at("architectures")[0], c.architecture);
    EXPECT_EQ(hf::label_names(dir), c.labels);
    const auto tensors = load_safetensors(dir / "model.safetensors");
    const Tensor w = tensors.at(c.weight + ".weight"), bias = tensors.at(c.weight + ".bias");
    EXPECT_EQ(w.size(0), c.labels.empty() ? 2 : 3);

    auto again = model_of(fmt::format("{{type: hf, path: {}}}", dir.string()));
    again->eval();
    auto encoder = sh_test::make_component<Encoder>(registry(), fmt::format("{{type: hf, path: {}}}", dir.string()));
    encoder->eval();
    torch::NoGradGuard no_grad;
    const Tensor states = encoder->encode({b.at("input_ids"), b.at("attention_mask"), b.at("token_type_ids")}).last();
    const Tensor formula = at::linear(states, w, bias);
    const Batch out = again->forward(b);
    const Tensor real = b.at("attention_mask").to(torch::kBool);
    if (c.labels.empty()) {  // start and end logits are the two columns; padding is masked out
      EXPECT_LE(max_diff(out.at("start_logits").index({real}), formula.select(-1, 0).index({real})), 1e-6);
      EXPECT_LE(max_diff(out.at("end_logits").index({real}), formula.select(-1, 1).index({real})), 1e-6);
    } else {
      EXPECT_LE(max_diff(out.at("logits"), formula), 1e-6);
    }
  }
}
