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

namespace {

/// The folder's own tokenizer ({type: hf}) on the fixture's texts gives transformers' ids, real tokens only.
void expect_fixture_ids(const fs::path& folder, const nlohmann::json& cases) {
  auto tok = sh_test::make_component<Tokenizer>(registry(), fmt::format("{{type: hf, path: {}}}", folder.string()));
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

}  // namespace

// ELECTRA's and DistilBERT's WordPiece folders and RoBERTa's byte-level BPE one.
TEST(HfArchitectures, TheFolderTokenizerGivesTheFixtureIds) {
  for (const std::string arch : {"electra-discriminator", "electra-generator", "distilbert", "roberta"}) {
    SCOPED_TRACE(arch);
    expect_fixture_ids(kDir / arch, nlohmann::json::parse(read_file(kDir / arch / "cases.json")));
  }
}

// ALBERT's folder with its spiece.model (ALBERT's 30k-clean.model, kept once in tests/data/tokenizers): what
// AlbertTokenizer does around SentencePiece, case by case in the fixture: [MASK] typed in the text kept whole and
// taking the space on its left (case 0), accents stripped (Naïve, café, Ça), `` and '' turned into ", a number with
// a comma kept whole (case 1), lower-casing (all).
TEST(HfArchitectures, TheAlbertFolderTokenizerGivesTheFixtureIds) {
  TempFolder tmp;
  const fs::path dir = tmp / "albert";
  fs::create_directories(dir);
  for (const char* f : {"config.json", "tokenizer_config.json", "special_tokens_map.json"})
    fs::copy_file(kDir / "albert" / f, dir / f);
  fs::copy_file(fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "albert-30k-clean.model", dir / "spiece.model");
  expect_fixture_ids(dir, nlohmann::json::parse(read_file(kDir / "albert" / "cases.json")));
  // Offsets of the normalised text point into the original (13 bytes), the comma after a number its own piece.
  auto tok = sh_test::make_component<Tokenizer>(registry(), fmt::format("{{type: hf, path: {}}}", dir.string()));
  const auto pieces = tok->pieces("in 1999, then");
  std::vector<std::string> tokens;
  for (const auto& p : pieces) tokens.push_back(p.token);
  EXPECT_NE(std::find(tokens.begin(), tokens.end(), ","), tokens.end()) << fmt::format("{}", fmt::join(tokens, " "));
  for (const auto& p : pieces) {
    EXPECT_LE(0, p.begin);
    EXPECT_LE(p.begin, p.end);
    EXPECT_LE(p.end, 13);
  }
}

// A checkpoint saved in shards (save_pretrained's max_shard_size): model.safetensors.index.json maps every tensor to
// its shard file; the encoder built from the shards holds exactly the tensors of the one-file checkpoint, and a
// missing shard or a shard outside the folder gets one line naming it.
TEST(HfArchitectures, ShardedCheckpointsLoadAsTheOneFile) {
  const std::string arch = "electra-discriminator";
  TempFolder tmp;
  const fs::path dir = tmp / "sharded";
  fs::create_directories(dir);
  fs::copy_file(kDir / arch / "config.json", dir / "config.json");
  std::map<std::string, Tensor> shard[2];
  nlohmann::json map = nlohmann::json::object();
  size_t k = 0;
  for (const auto& [name, t] : load_safetensors(kDir / arch / "model.safetensors")) {
    const int s = static_cast<int>(k++ % 2);
    shard[s][name] = t;
    map[name] = fmt::format("model-0000{}-of-00002.safetensors", s + 1);
  }
  ASSERT_FALSE(shard[1].empty());
  for (int s = 0; s < 2; ++s) save_safetensors(dir / fmt::format("model-0000{}-of-00002.safetensors", s + 1), shard[s]);
  const nlohmann::json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", map}};
  write_file_atomic(dir / "model.safetensors.index.json", index.dump(2));

  auto sharded = sh_test::make_component<Encoder>(registry(), fmt::format("{{type: hf, path: {}}}", dir.string()));
  auto whole = sh_test::make_component<Encoder>(registry(),
                                                fmt::format("{{type: hf, path: {}}}", (kDir / arch).string()));
  const auto a = sharded->named_parameters(), b = whole->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : b) {
    ASSERT_NE(a.find(p.key()), nullptr) << p.key();
    EXPECT_TRUE(torch::equal(*a.find(p.key()), p.value())) << p.key();
  }

  fs::remove(dir / "model-00002-of-00002.safetensors");
  std::string e = sh_test::error_of([&] { hf::read_folder(dir); });
  EXPECT_NE(e.find("model.safetensors.index.json: the shard model-00002-of-00002.safetensors is missing"),
            std::string::npos) << e;
  map.begin().value() = "../model-00002-of-00002.safetensors";
  write_file_atomic(dir / "model.safetensors.index.json", nlohmann::json{{"weight_map", map}}.dump());
  e = sh_test::error_of([&] { hf::read_folder(dir); });
  EXPECT_NE(e.find("a shard must be a file of the folder itself"), std::string::npos) << e;
}

// A tokenizer read from a folder and written again (hf::write_tokenizer, what export_hf writes) reads back as the
// same tokenizer: the fixture's ids for WordPiece (ELECTRA), byte-level BPE (RoBERTa: RobertaTokenizer, <mask> with
// lstrip) and SentencePiece (ALBERT: AlbertTokenizer's preprocessing), and transformers' own tokenizer_config.json
// settings for each.
TEST(HfArchitectures, AnExportedTokenizerReadsBackAsTheFolders) {
  TempFolder tmp;
  const fs::path albert = tmp / "albert";
  fs::create_directories(albert);
  for (const char* f : {"config.json", "tokenizer_config.json", "special_tokens_map.json"})
    fs::copy_file(kDir / "albert" / f, albert / f);
  fs::copy_file(fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "albert-30k-clean.model", albert / "spiece.model");
  const std::vector<std::pair<std::string, fs::path>> folders = {
      {"electra", kDir / "electra-discriminator"}, {"roberta", kDir / "roberta"}, {"albert", albert}};
  for (const auto& [type, folder] : folders) {
    SCOPED_TRACE(type);
    auto tok = sh_test::make_component<Tokenizer>(registry(), fmt::format("{{type: hf, path: {}}}", folder.string()));
    const fs::path out = tmp / ("out-" + type);
    ASSERT_EQ(hf::write_tokenizer(out, *tok, hf::read_folder(kDir / folder.filename()).encoder_spec, type), "");
    fs::copy_file(folder / "config.json", out / "config.json");
    const std::string name = type == "electra" ? "electra-discriminator" : type;
    expect_fixture_ids(out, nlohmann::json::parse(read_file(kDir / name / "cases.json")));
    auto want = nlohmann::json::parse(read_file(kDir / name / "tokenizer_config.json"));
    // BertTokenizer's strip_accents null means "as do_lower_case"; the tokenizer writes what it resolved.
    if (want.contains("strip_accents") && want["strip_accents"].is_null()) want["strip_accents"] = want["do_lower_case"];
    const auto got = nlohmann::json::parse(read_file(out / "tokenizer_config.json"));
    for (const char* key : {"tokenizer_class", "model_max_length", "do_lower_case", "strip_accents",
                            "tokenize_chinese_chars", "add_prefix_space", "remove_space", "keep_accents"})
      if (want.contains(key)) EXPECT_EQ(got.at(key), want.at(key)) << key;
    for (const char* key : {"unk_token", "cls_token", "sep_token", "pad_token", "mask_token", "bos_token", "eos_token"}) {
      if (!want.contains(key)) continue;
      auto content = [](const nlohmann::json& j) { return j.is_object() ? j.at("content") : j; };
      auto lstrip = [](const nlohmann::json& j) { return j.is_object() && j.at("lstrip").get<bool>(); };
      EXPECT_EQ(content(got.at(key)), content(want.at(key))) << key;
      EXPECT_EQ(lstrip(got.at(key)), lstrip(want.at(key))) << key;
    }
  }
}
