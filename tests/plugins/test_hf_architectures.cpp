// SPDX-License-Identifier: Apache-2.0
// Every architecture the hf importer takes, against Hugging Face transformers' own outputs
// (tests/data/hf-tiny, written by make_hf_tiny.py with transformers 4.30.0 on Debian's PyTorch): ELECTRA's
// discriminator and generator (embedding size below the hidden size), RoBERTa (positions from padding_idx + 1, one
// token type, LayerNorm eps 1e-5) and ALBERT (one shared layer applied three times, gelu_new, embedding 8 -> hidden
// 32), each from model.safetensors and, separately, from pytorch_model.bin:
//  - the embedding output (after ELECTRA's and ALBERT's projection to the hidden size), every layer and ALBERT's
//    pooled output, within 1e-5;
//  - the MLM head's logits (ELECTRA's generator, RoBERTa, ALBERT) within 1e-5: each head with the checkpoint's
//    activation and LayerNorm epsilon (ALBERT's gelu_new, RoBERTa's 1e-5);
//  - the folder's tokenizer ({type: hf}) gives the fixture's ids, for the WordPiece folders (ELECTRA) and RoBERTa's
//    byte-level BPE folder (vocab.json + merges.txt, `<s> a </s></s> b </s>`).
// A round trip cannot show these: a mapping wrong both ways survives it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/plugin_support.h"
#include "support/test_support.h"
#include "stagehand/encoder.h"
#include "stagehand/files.h"
#include "stagehand/model.h"
#include "stagehand/safetensors.h"
#include "stagehand/sdk/hf_checkpoint.h"
#include "stagehand/tokenizer.h"

using namespace stagehand;
using sh_test::TempFolder;
namespace fs = std::filesystem;
using torch::Tensor;

namespace {

const fs::path kDir = fs::path(STAGEHAND_TEST_DATA) / "hf-tiny";

Registry& registry() {
  static Registry* reg = sh_test::load_plugins(
      {"encoder_transformer", "encoder_hf", "tokenizer_wordpiece", "tokenizer_sentencepiece", "tokenizer_bpe",
       "model_mlm"});
  return *reg;
}

/// A folder with the architecture's config.json and only the named weights file.
fs::path folder_with(const TempFolder& tmp, const std::string& arch, const std::string& weights) {
  const fs::path dir = tmp / (arch + "-" + weights);
  fs::create_directories(dir);
  fs::copy_file(kDir / arch / "config.json", dir / "config.json");
  fs::copy_file(kDir / arch / weights, dir / weights);
  return dir;
}

double max_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Arch {
  std::string name;
  int64_t layers;
  bool projected;  ///< embedding size below the hidden size: hidden_states[0] is the projected embedding output
  bool pooler;
  // Special ids of its vocabulary, for the mlm model (every ordinary token chosen and kept as it is).
  int64_t pad, cls, sep, mask;
};

const std::vector<Arch> kArchs = {
    {"electra-discriminator", 2, true, false, 0, 101, 102, 103},
    {"electra-generator", 2, true, false, 0, 101, 102, 103},
    {"roberta", 2, false, false, 1, 0, 2, 2004},
    {"albert", 3, true, true, 0, 2, 3, 4},
    {"distilbert", 2, false, false, 0, 101, 102, 103},
};

Batch batch_of(const nlohmann::json& cases) {
  Batch b;
  b.set("input_ids", sh_test::int_rows(cases.at("input_ids")));
  b.set("attention_mask", sh_test::int_rows(cases.at("attention_mask")));
  if (cases.contains("token_type_ids")) b.set("token_type_ids", sh_test::int_rows(cases.at("token_type_ids")));
  return b;
}

}  // namespace

TEST(HfArchitectures, EveryLayerMatchesTransformersFromBothWeightFormats) {
  for (const Arch& a : kArchs) {
    const auto cases = nlohmann::json::parse(read_file(kDir / a.name / "cases.json"));
    const auto expected = load_safetensors(kDir / a.name / "expected.safetensors");
    for (const std::string weights : {"model.safetensors", "pytorch_model.bin"}) {
      SCOPED_TRACE(a.name + " from " + weights);
      TempFolder tmp;
      auto enc = sh_test::make_component<Encoder>(
          registry(), fmt::format("{{type: hf, path: {}}}", folder_with(tmp, a.name, weights).string()), 7);
      enc->eval();
      torch::NoGradGuard no_grad;
      const Batch b = batch_of(cases);
      EncoderInput in{b.at("input_ids"), b.at("attention_mask"),
                      b.has("token_type_ids") ? b.at("token_type_ids") : torch::zeros_like(b.at("input_ids"))};
      const EncoderOutput out = enc->encode(in);
      ASSERT_EQ(static_cast<int64_t>(out.hidden_states.size()), a.layers + 1);
      std::map<std::string, Tensor> got = {
          {a.projected ? "projected_embedding_output" : "embedding_output", out.hidden_states.at(0)}};
      for (int64_t l = 0; l < a.layers; ++l) got[fmt::format("layer_{}", l)] = out.hidden_states.at(l + 1);
      if (a.pooler) got["pooled_output"] = enc->pool(out, "pooler");
      const Tensor real = b.at("attention_mask").to(torch::kBool).unsqueeze(-1);
      for (const auto& [name, t] : got) {
        const Tensor& want = expected.at(name);
        ASSERT_EQ(t.sizes(), want.sizes()) << name;
        if (t.dim() == 3) {
          EXPECT_LE(max_diff(t.masked_fill(~real, 0), want.masked_fill(~real, 0)), 1e-5) << name << " (tokens)";
          // Padding positions too, except RoBERTa's: transformers gives a padding token the position row
          // padding_idx, the encoder here offset + t (right padding: every real token's position agrees). Nothing
          // reads a padding position's state (attention masks it, pooling leaves it out); a documented deviation.
          if (a.name != "roberta") EXPECT_LE(max_diff(t, want), 1e-5) << name << " (padding positions too)";
        } else {
          EXPECT_LE(max_diff(t, want), 1e-5) << name;
        }
      }
    }
  }
}

TEST(HfArchitectures, MlmHeadsMatchTransformersWithTheirOwnActivationAndEpsilon) {
  for (const Arch& a : kArchs) {
    if (a.name == "electra-discriminator") continue;  // its head is replaced-token detection, not MLM
    SCOPED_TRACE(a.name);
    const fs::path folder = kDir / a.name;
    auto model = sh_test::make_component<Model>(
        registry(), fmt::format("{{type: mlm, encoder: {{type: hf, path: {}}}, mask_prob: 1.0, replace_mask: 0.0, "
                                "replace_random: 0.0, mask_id: {}, pad_id: {}, cls_id: {}, sep_id: {}}}",
                                folder.string(), a.mask, a.pad, a.cls, a.sep));
    const hf::ModelLoad r = hf::load_model(*model, hf::read_folder(folder));
    EXPECT_TRUE(r.fresh.empty()) << "head tensors left at their initialisation: " << fmt::format("{}", fmt::join(r.fresh, ", "));
    model->eval();
    torch::NoGradGuard no_grad;
    const auto cases = nlohmann::json::parse(read_file(folder / "cases.json"));
    const Batch out = model->forward(batch_of(cases));
    const int64_t len0 = cases.at("lengths").at(0).get<int64_t>();
    const Tensor chosen = out.at("mlm_positions")[0].narrow(0, 0, len0);  // case 0's ordinary tokens
    const int64_t n = chosen.sum().item<int64_t>();
    ASSERT_GT(n, 3);
    const Tensor got = out.at("mlm_logits").narrow(0, 0, n);
    const Tensor want = load_safetensors(folder / "expected.safetensors").at("mlm_logits_case0").index({chosen});
    ASSERT_EQ(got.sizes(), want.sizes());
    // torch.allclose's rule with atol 1e-5 and rtol 1e-6: vocabulary logits reach about 28, where float32's own
    // rounding of two orders of summation differs by about 1e-5. A wrong head is far outside it: BERT's erf GELU
    // and epsilon 1e-12 in place of ALBERT's gelu_new and RoBERTa's 1e-5 fail this check for both.
    const double worst = ((got - want).abs() - 1e-6 * want.abs()).max().item<double>();
    EXPECT_LE(worst, 1e-5) << "max |got - want| = " << max_diff(got, want);
  }
}

// ELECTRA's and DistilBERT's WordPiece folders and RoBERTa's byte-level BPE one. ALBERT's folder is not here yet:
// AlbertTokenizer's preprocessing (special tokens typed in the text, `` and '' turned into ", NFKD accent stripping,
// the re-split of "1," pieces) is not reproduced by the SentencePiece path, so its cases 0 and 1 differ
// (docs/hf-checkpoints.md, "Not yet").
TEST(HfArchitectures, TheFolderTokenizerGivesTheFixtureIds) {
  for (const std::string arch : {"electra-discriminator", "electra-generator", "distilbert", "roberta"}) {
    SCOPED_TRACE(arch);
    const fs::path folder = kDir / arch;
    auto tok = sh_test::make_component<Tokenizer>(registry(), fmt::format("{{type: hf, path: {}}}", folder.string()));
    const auto cases = nlohmann::json::parse(read_file(folder / "cases.json"));
    for (size_t i = 0; i < cases.at("cases").size(); ++i) {
      const auto& c = cases.at("cases")[i];
      const Encoding e = c.at("text_b").is_null()
                             ? tok->encode(c.at("text_a").get<std::string>())
                             : tok->encode_pair(c.at("text_a").get<std::string>(), c.at("text_b").get<std::string>());
      std::vector<int64_t> got;
      for (size_t k = 0; k < e.size(); ++k)
        if (e.attention_mask[k]) got.push_back(e.ids[k]);
      std::vector<int64_t> want = cases.at("input_ids")[i].get<std::vector<int64_t>>();
      want.resize(static_cast<size_t>(cases.at("lengths")[i].get<int64_t>()));
      EXPECT_EQ(got, want) << "case " << i << ": " << c.at("text_a");
    }
  }
}
