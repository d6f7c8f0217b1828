// SPDX-License-Identifier: Apache-2.0
// Hugging Face model folders (plugin encoder_hf; the reader/writer stagehand/sdk/hf_checkpoint.h, in the SDK):
//  - import: {type: hf, path: tests/data/hf-bert-tiny} reproduces the reference's embedding output, every layer
//    and the pooled output to 1e-5 on cases.json, and the folder's vocab.txt gives the reference's WordPiece tokens;
//  - export then import gives identical weights, for a BERT-shaped and an ELECTRA-shaped (embedding projection,
//    no pooler) encoder; the exported safetensors header follows the format (8-byte length, JSON, packed offsets,
//    space padding to 8 bytes) and config.json carries the architecture;
//  - pytorch_model.bin (torch.save's zip format, read by torch_pickle.cpp) holds exactly the tensors of
//    model.safetensors, and a folder with only it reproduces the reference; damaged or foreign archives (legacy
//    format, truncated pickle, a class other than a tensor's, a missing storage) are refused by name;
//  - the MLM head: init from the folder (hf::load_model) gives the reference's MLM logits of case 0;
//  - the folder's tokenizer ({type: hf}) follows tokenizer_config.json;
//  - refusals: unknown model_type, missing tensors, shape mismatches (both shapes named), no weights.
// ELECTRA, RoBERTa and ALBERT against transformers' own outputs: test_hf_architectures.cpp.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include "support/test_support.h"
#include "support/plugin_support.h"
#include "stagehand/sdk/hf_checkpoint.h"
#include "stagehand/sdk/torch_pickle.h"
#include "stagehand/encoder.h"
#include "stagehand/error.h"
#include "stagehand/files.h"
#include "plugin/loader.h"
#include "stagehand/model.h"
#include "stagehand/registry.h"
#include "stagehand/safetensors.h"
#include "stagehand/tokenizer.h"

using namespace stagehand;
using sh_test::TempFolder;
namespace fs = std::filesystem;
using torch::Tensor;

namespace {

const fs::path kHfDir = fs::path(STAGEHAND_TEST_DATA) / "hf-bert-tiny";

Registry& registry() {
  static Registry* reg = sh_test::load_plugins({"encoder_transformer", "encoder_hf", "tokenizer_wordpiece",
                                                          "tokenizer_sentencepiece", "model_mlm", "model_classifier",
                                                          "head_mlp"});
  return *reg;
}

template <class T>
std::shared_ptr<T> make(const std::string& yaml, uint64_t seed = 1) {
  return sh_test::make_component<T>(registry(), yaml, seed);
}

void expect_same_parameters(torch::nn::Module& a, torch::nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) {
    const Tensor* q = pb.find(p.key());
    ASSERT_NE(q, nullptr) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), *q)) << p.key();
  }
}

/// Exports `enc` to tmp/out (as `type`, chosen by model_type auto), checks config.json names the type, and imports
/// the folder again: the weights must come back bit-identical.
struct RoundTrip {
  nlohmann::json config;
  std::map<std::string, Tensor> tensors;
  std::shared_ptr<Encoder> back;
};
RoundTrip round_trip(const TempFolder& tmp, const std::shared_ptr<Encoder>& enc, const std::string& type) {
  RoundTrip r;
  EXPECT_EQ(hf::write_folder(tmp / "out", *enc, enc->spec()), type);
  r.config = nlohmann::json::parse(read_file(tmp / "out" / "config.json"));
  EXPECT_EQ(r.config.at("model_type"), type);
  r.tensors = load_safetensors(tmp / "out" / "model.safetensors");
  r.back = make<Encoder>(fmt::format("{{type: hf, path: {}}}", (tmp / "out").string()), 99);
  expect_same_parameters(*enc, *r.back);
  return r;
}

/// The reference's embedding output, both layers and the pooled output, to 1e-5, on cases.json.
void expect_reference_outputs(Encoder& enc) {
  enc.eval();
  torch::NoGradGuard no_grad;
  const auto cases = nlohmann::json::parse(read_file(kHfDir / "cases.json"));
  EncoderOutput out = enc.encode({sh_test::int_rows(cases.at("input_ids")),
                                  sh_test::int_rows(cases.at("attention_mask")),
                                  sh_test::int_rows(cases.at("token_type_ids"))});
  const auto expected = load_safetensors(kHfDir / "expected.safetensors");
  const std::map<std::string, Tensor> got = {{"embedding_output", out.hidden_states.at(0)},
                                             {"layer_0", out.hidden_states.at(1)},
                                             {"layer_1", out.hidden_states.at(2)},
                                             {"pooled_output", enc.pool(out, "pooler")}};
  for (const auto& [name, t] : got) {
    const Tensor& want = expected.at(name);
    ASSERT_EQ(t.sizes(), want.sizes()) << name;
    EXPECT_LE((t - want).abs().max().item<double>(), 1e-5) << name;
  }
}

/// The tokens (padding left out) of a cases.json case: text_a, with text_b as its pair when there is one.
std::vector<std::string> tokens_of(Tokenizer& tok, const nlohmann::json& c) {
  Encoding e = c.at("text_b").is_null() ? tok.encode(c.at("text_a").get<std::string>())
                                        : tok.encode_pair(c.at("text_a").get<std::string>(),
                                                          c.at("text_b").get<std::string>());
  std::vector<std::string> tokens;
  for (size_t i = 0; i < e.size(); ++i)
    if (e.attention_mask[i]) tokens.push_back(tok.id_to_token(e.ids[i]));
  return tokens;
}

/// A folder with the reference's config.json and only the named weights file.
fs::path folder_with(const TempFolder& tmp, const std::string& weights) {
  const fs::path dir = tmp / weights;
  fs::create_directories(dir);
  fs::copy_file(kHfDir / "config.json", dir / "config.json");
  fs::copy_file(kHfDir / weights, dir / weights);
  return dir;
}

}  // namespace

TEST(HfImport, BertTinyMatchesTheReferenceOutputs) {
  auto enc = make<Encoder>(fmt::format("{{type: hf, path: {}}}", kHfDir.string()));
  expect_reference_outputs(*enc);
  const auto cases = nlohmann::json::parse(read_file(kHfDir / "cases.json"));
  // The folder's vocabulary, lower-cased as BERT-uncased, gives the reference's WordPiece tokens.
  auto tok = make<Tokenizer>(fmt::format("{{type: wordpiece, vocab: {}, lowercase: true}}", (kHfDir / "vocab.txt").string()));
  for (const auto& c : cases.at("cases"))
    EXPECT_EQ(tokens_of(*tok, c), c.at("tokens").get<std::vector<std::string>>()) << c.at("text_a");
}

TEST(HfExport, BertShapedRoundTripAndAValidHeader) {
  TempFolder tmp;
  auto enc = make<Encoder>("{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 2, num_heads: 4, "
                           "intermediate_size: 32, max_positions: 24, activation: gelu_tanh}",
                           3);
  auto [config, tensors, back] = round_trip(tmp, enc, "bert");
  EXPECT_EQ(config.at("hidden_size"), 16);
  EXPECT_EQ(config.at("num_hidden_layers"), 2);
  EXPECT_EQ(config.at("hidden_act"), "gelu_new");
  EXPECT_EQ(config.count("embedding_size"), 0u);
  EXPECT_TRUE(back->spec().at("pooler").as_bool());
  EXPECT_EQ(back->spec().at("activation").as_string(), "gelu_tanh");

  // The header, byte by byte: u64 length (a multiple of 8, padded with spaces), JSON, packed data.
  const std::string bytes = read_file(tmp / "out" / "model.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_LE(8 + n, bytes.size());
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find_last_not_of(' ') + 1, header.find('}', header.find_last_of('}')) + 1);
  const auto h = nlohmann::json::parse(header);
  EXPECT_EQ(h.at("__metadata__").at("format"), "pt");
  std::vector<std::pair<uint64_t, uint64_t>> spans;
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") continue;
    EXPECT_EQ(name.rfind("bert.", 0), 0u) << name;
    EXPECT_EQ(v.at("dtype"), "F32");
    uint64_t numel = 1;
    for (auto d : v.at("shape")) numel *= d.get<uint64_t>();
    const auto off = v.at("data_offsets").get<std::vector<uint64_t>>();
    EXPECT_EQ(off[1] - off[0], numel * 4) << name;
    spans.emplace_back(off[0], off[1]);
  }
  std::sort(spans.begin(), spans.end());
  uint64_t at = 0;
  for (const auto& [b, e] : spans) {
    EXPECT_EQ(b, at);  // packed, no gaps or overlaps
    at = e;
  }
  EXPECT_EQ(8 + n + at, bytes.size());
}

TEST(HfExport, ElectraShapedRoundTrip) {
  TempFolder tmp;
  auto enc = make<Encoder>("{type: transformer, vocab_size: 50, hidden_size: 16, embedding_size: 8, num_layers: 2, "
                           "num_heads: 4, intermediate_size: 32, max_positions: 24, pooler: false}",
                           4);
  auto [config, tensors, back] = round_trip(tmp, enc, "electra");
  EXPECT_EQ(config.at("embedding_size"), 8);
  EXPECT_EQ(tensors.count("electra.embeddings_project.weight"), 1u);
  EXPECT_EQ(tensors.count("electra.pooler.dense.weight"), 0u);
  EXPECT_FALSE(back->spec().at("pooler").as_bool());
  // Outputs agree too.
  back->eval();
  enc->eval();
  Tensor ids = torch::randint(0, 50, {2, 7}, torch::kLong), mask = torch::ones({2, 7}, torch::kLong);
  EXPECT_TRUE(torch::equal(enc->encode({ids, mask, {}}).last(), back->encode({ids, mask, {}}).last()));
  // A BERT folder cannot hold an embedding projection.
  EXPECT_NE(sh_test::error_of([&] { hf::write_folder(tmp / "b", *enc, enc->spec(), "bert"); })
                .find("embedding_size 8 differs from hidden_size 16"),
            std::string::npos);
}

TEST(HfImport, WhatDoesNotFitIsRefusedByName) {
  TempFolder tmp;
  auto enc = make<Encoder>("{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 1, num_heads: 4, "
                           "intermediate_size: 32, max_positions: 24}");
  hf::write_folder(tmp / "ok", *enc, enc->spec());
  auto load = [&](const fs::path& p) { return sh_test::error_of([&] { make<Encoder>(fmt::format("{{type: hf, path: {}}}", p.string())); }); };
  // Unknown model type.
  fs::copy(tmp / "ok", tmp / "gpt", fs::copy_options::recursive);
  auto c = nlohmann::json::parse(read_file(tmp / "gpt" / "config.json"));
  c["model_type"] = "gpt2";
  write_file_atomic(tmp / "gpt" / "config.json", c.dump());
  EXPECT_NE(load(tmp / "gpt").find("model_type 'gpt2' is not supported; supported: bert, electra, roberta, albert"), std::string::npos);
  // A shape mismatch names the tensor and both shapes.
  fs::copy(tmp / "ok", tmp / "wide", fs::copy_options::recursive);
  c = nlohmann::json::parse(read_file(tmp / "wide" / "config.json"));
  c["intermediate_size"] = 64;
  write_file_atomic(tmp / "wide" / "config.json", c.dump());
  const std::string wide = load(tmp / "wide");
  EXPECT_NE(wide.find("tensor 'bert.encoder.layer.0.intermediate.dense.weight' has shape [32, 16] in the checkpoint "
                      "but [64, 16] in the encoder"),
            std::string::npos)
      << wide;
  // A missing tensor is named.
  fs::create_directories(tmp / "missing");
  fs::copy_file(tmp / "ok" / "config.json", tmp / "missing" / "config.json");
  auto tensors = load_safetensors(tmp / "ok" / "model.safetensors");
  tensors.erase("bert.encoder.layer.0.output.LayerNorm.bias");
  save_safetensors(tmp / "missing" / "model.safetensors", tensors);
  EXPECT_NE(load(tmp / "missing").find("lacks 1 tensor(s) the encoder needs: bert.encoder.layer.0.output.LayerNorm.bias"),
            std::string::npos);
  // No weights at all.
  fs::create_directories(tmp / "empty");
  fs::copy_file(tmp / "ok" / "config.json", tmp / "empty" / "config.json");
  EXPECT_NE(load(tmp / "empty").find("has no weights: neither model.safetensors nor pytorch_model.bin"), std::string::npos);
  const std::string nowhere = load(tmp / "nowhere");
  EXPECT_NE(nowhere.find("nowhere"), std::string::npos) << nowhere;  // the schema's missing-path error names it
  EXPECT_NE(sh_test::error_of([&] { hf::read_folder(tmp / "nowhere"); }).find("is not a folder"), std::string::npos);
}

TEST(HfImport, PytorchModelBinHoldsExactlyTheSafetensorsTensors) {
  const auto bin = hf::load_torch_state_dict(kHfDir / "pytorch_model.bin");
  const auto st = load_safetensors(kHfDir / "model.safetensors");
  // The safetensors file's 46 plus the MLM decoder weight, which torch.save stores as a view of the word embeddings'
  // storage (tied) and safetensors leaves out.
  ASSERT_EQ(bin.size(), 47u);
  ASSERT_EQ(st.size(), 46u);
  EXPECT_TRUE(torch::equal(bin.at("cls.predictions.decoder.weight"), bin.at("bert.embeddings.word_embeddings.weight")));
  for (const auto& [name, t] : st) {
    auto it = bin.find(name);
    ASSERT_NE(it, bin.end()) << name;
    EXPECT_EQ(it->second.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(it->second.is_contiguous()) << name;
    EXPECT_TRUE(torch::equal(it->second, t)) << name;
  }
}

TEST(HfImport, AFolderWithOnlyPytorchModelBinMatchesTheReference) {
  TempFolder tmp;
  const fs::path dir = folder_with(tmp, "pytorch_model.bin");
  EXPECT_EQ(hf::read_folder(dir).weights_file, dir / "pytorch_model.bin");
  auto enc = make<Encoder>(fmt::format("{{type: hf, path: {}}}", dir.string()));
  expect_reference_outputs(*enc);
}

namespace {

/// A torch.save-style archive "archive/" with the given data.pkl and storage records, written by LibTorch's own
/// zip writer.
void write_archive(const fs::path& file, const std::string& pickle, const std::map<std::string, std::string>& records = {}) {
  caffe2::serialize::PyTorchStreamWriter w(file.string());
  w.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [name, bytes] : records) w.writeRecord(name, bytes.data(), bytes.size());
  w.writeEndOfFile();
}

/// protocol 2: {'w': _rebuild_tensor_v2(storage 'k' of `type` with `numel` elements, 0, (2,), (1,), False, ())}
/// The bytes of a string literal, NULs included (without the terminating one).
template <size_t N>
std::string B(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

std::string state_dict_pickle(const std::string& type, int numel) {
  // (Literals are split where a hex escape would run into a following hex digit.)
  return B("\x80\x02" "ccollections\nOrderedDict\n" "q\x00)R" "q\x01(" "X\x01\x00\x00\x00" "w") +
         B("ctorch._utils\n_rebuild_tensor_v2\n" "q\x02((" "X\x07\x00\x00\x00" "storage" "c") + type + "\n" +
         B("X\x01\x00\x00\x00" "k" "X\x03\x00\x00\x00" "cpu" "K") + static_cast<char>(numel) + "tQ" +
         B("K\x00" "K\x02\x85" "K\x01\x85" "\x89" ")tRu.");
}

}  // namespace

TEST(HfImport, TorchPickleReadsHalfStoragesAndRefusesWhatIsNotAStateDict) {
  TempFolder tmp;
  // A half-precision tensor [1.5, -2]: 0x3e00, 0xc000.
  write_archive(tmp / "half.bin", state_dict_pickle("torch\nHalfStorage", 2), {{"data/k", B("\x00\x3e\x00\xc0")}});
  const auto half = hf::load_torch_state_dict(tmp / "half.bin");
  ASSERT_EQ(half.count("w"), 1u);
  EXPECT_EQ(half.at("w").scalar_type(), torch::kHalf);
  EXPECT_TRUE(torch::equal(half.at("w").to(torch::kFloat), torch::tensor({1.5f, -2.0f})));

  auto error = [&](const std::string& name) {
    return sh_test::error_of([&] { hf::load_torch_state_dict(tmp / name); });
  };
  // The storage record is one element short.
  write_archive(tmp / "short.bin", state_dict_pickle("torch\nFloatStorage", 2), {{"data/k", std::string(4, '\0')}});
  EXPECT_NE(error("short.bin").find("storage record 'data/k' holds 4 bytes; 2 elements of Float need 8"),
            std::string::npos)
      << error("short.bin");
  // No storage record at all.
  write_archive(tmp / "nostorage.bin", state_dict_pickle("torch\nFloatStorage", 2));
  EXPECT_NE(error("nostorage.bin").find("no record 'data/k'"), std::string::npos) << error("nostorage.bin");
  // A pickle that would call os.system is refused by name; nothing runs.
  write_archive(tmp / "evil.bin", B("\x80\x02" "cos\nsystem\n" "X\x04\x00\x00\x00" "true" "\x85R."));
  EXPECT_NE(error("evil.bin").find("builds a 'os.system'"), std::string::npos) << error("evil.bin");
  // A truncated pickle.
  const std::string whole = state_dict_pickle("torch\nFloatStorage", 2);
  write_archive(tmp / "cut.bin", whole.substr(0, 40), {{"data/k", std::string(8, '\0')}});
  EXPECT_NE(error("cut.bin").find("the file is truncated"), std::string::npos) << error("cut.bin");
  // The legacy (pre-1.6) format is a bare pickle, not a zip.
  sh_test::write_text(tmp / "legacy.bin", B("\x80\x02\x8a\x0a") + "legacy");
  EXPECT_NE(error("legacy.bin").find("not a zip archive"), std::string::npos) << error("legacy.bin");
  // A zip that is not a torch.save archive.
  sh_test::write_text(tmp / "zip.bin", B("PK\x03\x04") + std::string(60, 'x'));
  EXPECT_NE(error("zip.bin").find("not a readable torch.save archive"), std::string::npos) << error("zip.bin");
}

TEST(HfImport, TheMlmHeadReproducesTheReferenceLogits) {
  // Every ordinary token chosen and left as it is, so the logits are the reference's at those positions.
  auto model = make<Model>(fmt::format("{{type: mlm, encoder: {{type: hf, path: {}}}, mask_prob: 1.0, replace_mask: "
                                       "0.0, replace_random: 0.0, mask_id: 103, pad_id: 0, cls_id: 101, sep_id: 102}}",
                                       kHfDir.string()));
  const hf::ModelLoad r = hf::load_model(*model, hf::read_folder(kHfDir));
  EXPECT_EQ(r.heads.size(), 5u);  // cls.predictions.{bias, transform.dense.*, transform.LayerNorm.*}
  EXPECT_TRUE(r.fresh.empty()) << fmt::format("{}", fmt::join(r.fresh, ", "));
  EXPECT_NE(std::find(r.unused.begin(), r.unused.end(), "cls.seq_relationship.weight"), r.unused.end());
  model->eval();
  torch::NoGradGuard no_grad;
  const auto cases = nlohmann::json::parse(read_file(kHfDir / "cases.json"));
  Batch batch;
  batch.set("input_ids", sh_test::int_rows(cases.at("input_ids")));
  batch.set("attention_mask", sh_test::int_rows(cases.at("attention_mask")));
  batch.set("token_type_ids", sh_test::int_rows(cases.at("token_type_ids")));
  Batch out = model->forward(batch);
  const Tensor positions = out.at("mlm_positions");
  const int64_t in_case0 = positions[0].sum().item<int64_t>();
  ASSERT_GT(in_case0, 3);
  const Tensor got = out.at("mlm_logits").narrow(0, 0, in_case0);
  const Tensor want = load_safetensors(kHfDir / "expected.safetensors").at("mlm_logits_case0").index({positions[0]});
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_LE((got - want).abs().max().item<double>(), 1e-5);
  // Without the head's tensors in the checkpoint, the head keeps its initialisation and says so.
  TempFolder tmp;
  fs::create_directories(tmp / "bare");
  fs::copy_file(kHfDir / "config.json", tmp / "bare" / "config.json");
  auto tensors = load_safetensors(kHfDir / "model.safetensors");
  for (auto it = tensors.begin(); it != tensors.end();) it = it->first.rfind("cls.", 0) == 0 ? tensors.erase(it) : std::next(it);
  save_safetensors(tmp / "bare" / "model.safetensors", tensors);
  const hf::ModelLoad bare = hf::load_model(*model, hf::read_folder(tmp / "bare"));
  EXPECT_TRUE(bare.heads.empty());
  EXPECT_EQ(bare.fresh.size(), 5u);
}

TEST(HfTokenizer, TheFolderTokenizerFollowsTokenizerConfig) {
  // hf-bert-tiny has vocab.txt and no tokenizer_config.json: BertTokenizer's defaults (lower-casing).
  auto tok = make<Tokenizer>(fmt::format("{{type: hf, path: {}}}", kHfDir.string()));
  const ConfigNode spec = hf::tokenizer_spec(kHfDir);
  EXPECT_EQ(spec.at("type").as_string(), "wordpiece");
  EXPECT_TRUE(spec.at("lowercase").as_bool());
  const auto cases = nlohmann::json::parse(read_file(kHfDir / "cases.json"));
  for (const auto& c : cases.at("cases"))
    EXPECT_EQ(tokens_of(*tok, c), c.at("tokens").get<std::vector<std::string>>()) << c.at("text_a");

  // A cased folder with its special tokens given as AddedToken objects.
  TempFolder tmp;
  fs::create_directories(tmp / "cased");
  fs::copy_file(kHfDir / "vocab.txt", tmp / "cased" / "vocab.txt");
  sh_test::write_text(tmp / "cased" / "tokenizer_config.json",
                      R"({"do_lower_case": false, "strip_accents": false, "unk_token": {"content": "[UNK]", "lstrip": false}})");
  const ConfigNode cased = hf::tokenizer_spec(tmp / "cased");
  EXPECT_FALSE(cased.at("lowercase").as_bool());
  EXPECT_FALSE(cased.at("strip_accents").as_bool());
  EXPECT_EQ(cased.at("unk_token").as_string(), "[UNK]");
  auto cased_tok = make<Tokenizer>(fmt::format("{{type: hf, path: {}}}", (tmp / "cased").string()));
  EXPECT_EQ(cased_tok->id_to_token(cased_tok->encode("Paris").ids[1]), "[UNK]");  // no capitalised entry in the vocab

  // A SentencePiece folder (ALBERT's layout): spiece.model, lower-cased by default.
  fs::create_directories(tmp / "albert");
  fs::copy_file(fs::path(STAGEHAND_TEST_DATA) / "tokenizers" / "albert-30k-clean.model", tmp / "albert" / "spiece.model");
  auto sp = make<Tokenizer>(fmt::format("{{type: hf, path: {}}}", (tmp / "albert").string()));
  auto direct = make<Tokenizer>(fmt::format("{{type: sentencepiece, model: {}, lowercase: true}}",
                                            (tmp / "albert" / "spiece.model").string()));
  EXPECT_EQ(sp->encode("The Quick brown fox.").ids, direct->encode("The Quick brown fox.").ids);

  // No tokenizer file: one line naming the folder and what it looked for.
  fs::create_directories(tmp / "none");
  const std::string none = sh_test::error_of([&] { hf::tokenizer_spec(tmp / "none"); });
  EXPECT_NE(none.find("has no vocab.txt (WordPiece), spiece.model (SentencePiece), vocab.json + merges.txt or "
                      "tokenizer.json"), std::string::npos) << none;
  EXPECT_NE(none.find((tmp / "none").string()), std::string::npos) << none;
  // A tokenizer.json alone goes to the bpe tokenizer, which says what is wrong with it (tests/plugins/test_bpe.cpp
  // builds real ones).
  fs::create_directories(tmp / "fast");
  sh_test::write_text(tmp / "fast" / "tokenizer.json", "{}");
  const ConfigNode fast = hf::tokenizer_spec(tmp / "fast");
  EXPECT_EQ(fast.at("type").as_string(), "bpe");
  EXPECT_EQ(fs::path(fast.at("tokenizer_json").as_string()).filename(), "tokenizer.json");
}

TEST(HfExport, RobertaShapedRoundTripAndItsPositionOffset) {
  TempFolder tmp;
  auto enc = make<Encoder>("{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 2, num_heads: 4, "
                           "intermediate_size: 32, max_positions: 26, type_vocab_size: 1, position_offset: 2}",
                           5);
  auto [config, tensors, back] = round_trip(tmp, enc, "roberta");
  EXPECT_EQ(config.at("pad_token_id"), 1);  // HF: positions start at pad_token_id + 1
  EXPECT_EQ(config.at("max_position_embeddings"), 26);
  EXPECT_EQ(load_safetensors(tmp / "out" / "model.safetensors").count("roberta.embeddings.word_embeddings.weight"), 1u);
  EXPECT_EQ(back->spec().at("position_offset").as_int(), 2);

  // Token t uses row t + 2: the same weights with rows 2.. as the table and no offset give the same output.
  auto plain = make<Encoder>("{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 2, num_heads: 4, "
                             "intermediate_size: 32, max_positions: 24, type_vocab_size: 1}");
  {
    torch::NoGradGuard no_grad;
    auto src = back->named_parameters();
    for (auto& p : plain->named_parameters()) {
      const Tensor& s = src[p.key()];
      p.value().copy_(p.key() == "embeddings.position_embeddings.weight" ? s.narrow(0, 2, 24) : s);
    }
  }
  back->eval();
  plain->eval();
  Tensor ids = torch::randint(0, 50, {2, 24}, torch::kLong), mask = torch::ones({2, 24}, torch::kLong);
  EXPECT_TRUE(torch::allclose(back->encode({ids, mask, {}}).last(), plain->encode({ids, mask, {}}).last()));
  // With the offset, 24 tokens fill the 26-row table; 25 do not.
  Tensor longer = torch::randint(0, 50, {1, 25}, torch::kLong);
  const std::string err = sh_test::error_of([&] { back->encode({longer, torch::ones_like(longer), {}}); });
  EXPECT_NE(err.find("sequence length 25 exceeds max_positions 26 less position_offset 2"), std::string::npos) << err;
}

TEST(HfExport, AlbertShapedRoundTripSharesOneBlock) {
  TempFolder tmp;
  auto enc = make<Encoder>("{type: transformer, vocab_size: 50, hidden_size: 16, embedding_size: 8, num_layers: 3, "
                           "num_heads: 4, intermediate_size: 32, max_positions: 24, shared_layers: true, "
                           "activation: gelu_tanh}",
                           6);
  for (const auto& p : enc->named_parameters()) EXPECT_EQ(p.key().find("layer.1"), std::string::npos) << p.key();
  auto [config, tensors, back] = round_trip(tmp, enc, "albert");
  EXPECT_EQ(config.at("embedding_size"), 8);
  EXPECT_EQ(config.at("num_hidden_groups"), 1);
  EXPECT_EQ(config.at("num_hidden_layers"), 3);
  for (const char* name : {"albert.encoder.embedding_hidden_mapping_in.weight",
                           "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.query.weight",
                           "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.dense.bias",
                           "albert.encoder.albert_layer_groups.0.albert_layers.0.attention.LayerNorm.weight",
                           "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn.weight",
                           "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight",
                           "albert.encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.bias",
                           "albert.pooler.weight", "albert.embeddings.word_embeddings.weight"})
    EXPECT_EQ(tensors.count(name), 1u) << name;
  EXPECT_EQ(tensors.size(), enc->named_parameters().size() + enc->named_buffers().size());
  EXPECT_TRUE(back->spec().at("shared_layers").as_bool());

  // Sharing: the same output as an unshared encoder whose three blocks are copies of the one block.
  auto unshared = make<Encoder>("{type: transformer, vocab_size: 50, hidden_size: 16, embedding_size: 8, num_layers: 3, "
                                "num_heads: 4, intermediate_size: 32, max_positions: 24, activation: gelu_tanh}");
  {
    torch::NoGradGuard no_grad;
    auto src = back->named_parameters();
    for (auto& p : unshared->named_parameters()) {
      std::string key = p.key();
      for (const char* l : {"layer.1.", "layer.2."})
        if (auto at = key.find(l); at != std::string::npos) key.replace(at, 8, "layer.0.");
      p.value().copy_(src[key]);
    }
  }
  back->eval();
  unshared->eval();
  Tensor ids = torch::randint(0, 50, {2, 9}, torch::kLong), mask = torch::ones({2, 9}, torch::kLong);
  EncoderOutput a = back->encode({ids, mask, {}}), b = unshared->encode({ids, mask, {}});
  ASSERT_EQ(a.hidden_states.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(torch::allclose(a.hidden_states[i], b.hidden_states[i])) << i;

  // What does not fit is refused: a shared encoder as BERT, an ALBERT with two groups.
  EXPECT_NE(sh_test::error_of([&] { hf::write_folder(tmp / "b", *enc, enc->spec(), "bert"); })
                .find("shares one block across layers, which only ALBERT does"),
            std::string::npos);
  fs::copy(tmp / "out", tmp / "groups", fs::copy_options::recursive);
  auto c = config;
  c["num_hidden_groups"] = 2;
  write_file_atomic(tmp / "groups" / "config.json", c.dump());
  const std::string groups = sh_test::error_of([&] { hf::read_folder(tmp / "groups"); });
  EXPECT_NE(groups.find("num_hidden_groups is 2; only ALBERT's released layout"), std::string::npos) << groups;
}

TEST(HfImport, HeadNamesFollowTheModelType) {
  EXPECT_EQ(hf::head_name("bert", "cls.predictions.transform.dense.weight"), "cls.predictions.transform.dense.weight");
  EXPECT_EQ(hf::head_name("roberta", "cls.predictions.transform.LayerNorm.bias"), "lm_head.layer_norm.bias");
  EXPECT_EQ(hf::head_name("roberta", "cls.predictions.bias"), "lm_head.bias");
  EXPECT_EQ(hf::head_name("albert", "cls.predictions.transform.dense.weight"), "predictions.dense.weight");
  EXPECT_EQ(hf::head_name("albert", "head.out.weight"), "head.out.weight");
  EXPECT_EQ(hf::encoder_name("albert", "", "encoder.layer.0.output.LayerNorm.weight"),
            "encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.weight");
  EXPECT_EQ(hf::encoder_name("roberta", "roberta.", "pooler.dense.weight"), "roberta.pooler.dense.weight");
}

TEST(HfExport, ClassifierHeadsMapOntoSequenceClassification) {
  TempFolder tmp;
  const std::string encoder = "{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 1, num_heads: 4, "
                              "intermediate_size: 32, max_positions: 24";
  // BertForSequenceClassification: the pooler, then one linear layer.
  auto bert = make<Model>("{type: classifier, num_labels: 3, pooling: pooler, head: {type: mlp, hidden: []}, "
                          "encoder: " + encoder + "}}", 3);
  const ConfigNode bert_spec = bert->spec();
  ASSERT_EQ(hf::write_folder(tmp / "bert", *bert->encoder(), bert->encoder()->spec()), "bert");
  EXPECT_EQ(hf::add_head(tmp / "bert", *bert, bert_spec, "bert"), "");
  auto config = nlohmann::json::parse(read_file(tmp / "bert" / "config.json"));
  EXPECT_EQ(config.at("architectures")[0], "BertForSequenceClassification");
  EXPECT_EQ(config.at("id2label").size(), 3u);
  EXPECT_EQ(config.at("label2id").at("LABEL_2"), 2);
  auto tensors = load_safetensors(tmp / "bert" / "model.safetensors");
  ASSERT_EQ(tensors.count("classifier.weight"), 1u);
  EXPECT_EQ(tensors.at("classifier.weight").sizes(), (std::vector<int64_t>{3, 16}));
  EXPECT_EQ(tensors.count("bert.pooler.dense.weight"), 1u);
  // Back into a fresh classifier of the same spec: every tensor, the head included.
  auto again = make<Model>("{type: classifier, num_labels: 3, pooling: pooler, head: {type: mlp, hidden: []}, "
                           "encoder: " + encoder + "}}", 9);
  const hf::ModelLoad r = hf::load_model(*again, hf::read_folder(tmp / "bert"), "encoder", &bert_spec);
  EXPECT_EQ(r.heads.size(), 2u);
  EXPECT_TRUE(r.fresh.empty());
  EXPECT_TRUE(r.unused.empty());
  expect_same_parameters(*bert, *again);

  // ElectraForSequenceClassification: [CLS] -> dense(H) -> gelu -> out_proj.
  auto electra = make<Model>("{type: classifier, num_labels: 2, pooling: cls, head: {type: mlp, hidden: [16], "
                             "activation: gelu}, encoder: " + encoder + ", pooler: false}}", 4);
  ASSERT_EQ(hf::write_folder(tmp / "electra", *electra->encoder(), electra->encoder()->spec()), "electra");
  EXPECT_EQ(hf::add_head(tmp / "electra", *electra, electra->spec(), "electra"), "");
  tensors = load_safetensors(tmp / "electra" / "model.safetensors");
  for (const char* name : {"classifier.dense.weight", "classifier.dense.bias", "classifier.out_proj.weight",
                           "classifier.out_proj.bias"})
    EXPECT_EQ(tensors.count(name), 1u) << name;
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp / "electra" / "config.json")).at("architectures")[0],
            "ElectraForSequenceClassification");

  // A head that does not map says why, and the folder is left as it was.
  auto cls = make<Model>("{type: classifier, num_labels: 2, pooling: cls, head: {type: mlp, hidden: []}, "
                         "encoder: " + encoder + "}}", 5);
  ASSERT_EQ(hf::write_folder(tmp / "cls", *cls->encoder(), cls->encoder()->spec()), "bert");
  const std::string why = hf::add_head(tmp / "cls", *cls, cls->spec(), "bert");
  EXPECT_NE(why.find("BertForSequenceClassification is the pooler then one linear layer"), std::string::npos) << why;
  EXPECT_EQ(nlohmann::json::parse(read_file(tmp / "cls" / "config.json")).at("architectures")[0], "BertModel");
  // Without a spec the classifier's head is new: it keeps its initialisation and is reported.
  const hf::ModelLoad plain = hf::load_model(*cls, hf::read_folder(tmp / "bert"));
  EXPECT_EQ(plain.fresh.size(), 2u);
  EXPECT_EQ(plain.unused.size(), 2u);  // classifier.weight, classifier.bias
}

TEST(HfImport, MlmHeadsLoadUnderEachModelTypesNames) {
  // An mlm model per model type, written as Hugging Face's *ForMaskedLM would hold it (the encoder by write_folder,
  // the head under head_name), then loaded into a fresh model: every tensor comes back, the head included.
  const std::map<std::string, std::string> encoders = {
      {"bert", "{type: transformer, vocab_size: 60, hidden_size: 16, num_layers: 1, num_heads: 4, "
               "intermediate_size: 32, max_positions: 24}"},
      {"electra", "{type: transformer, vocab_size: 60, hidden_size: 16, embedding_size: 8, num_layers: 1, "
                  "num_heads: 4, intermediate_size: 32, max_positions: 24, pooler: false}"},
      {"roberta", "{type: transformer, vocab_size: 60, hidden_size: 16, num_layers: 1, num_heads: 4, "
                  "intermediate_size: 32, max_positions: 26, type_vocab_size: 1, position_offset: 2}"},
      {"albert", "{type: transformer, vocab_size: 60, hidden_size: 16, embedding_size: 8, num_layers: 2, "
                 "num_heads: 4, intermediate_size: 32, max_positions: 24, shared_layers: true}"}};
  TempFolder tmp;
  for (const auto& [type, encoder] : encoders) {
    const std::string spec = "{type: mlm, encoder: " + encoder + ", mask_id: 4, pad_id: 0, cls_id: 1, sep_id: 2}";
    auto model = make<Model>(spec, 11);
    const fs::path dir = tmp / type;
    ASSERT_EQ(hf::write_folder(dir, *model->encoder(), model->encoder()->spec()), type);
    auto tensors = load_safetensors(dir / "model.safetensors");
    size_t heads = 0;
    for (const auto& p : model->named_parameters())
      if (p.key().rfind("cls.", 0) == 0) {
        tensors[hf::head_name(type, p.key())] = p.value().detach();
        ++heads;
      }
    EXPECT_EQ(heads, 5u) << type;
    save_safetensors(dir / "model.safetensors", tensors);
    auto fresh = make<Model>(spec, 12);
    const hf::ModelLoad r = hf::load_model(*fresh, hf::read_folder(dir));
    EXPECT_EQ(r.heads.size(), 5u) << type;
    EXPECT_TRUE(r.fresh.empty()) << type;
    EXPECT_TRUE(r.unused.empty()) << type << ": " << fmt::format("{}", fmt::join(r.unused, ", "));
    expect_same_parameters(*model, *fresh);
  }
  EXPECT_EQ(hf::head_name("electra", "cls.predictions.transform.dense.weight"), "generator_predictions.dense.weight");
  EXPECT_EQ(hf::head_name("electra", "cls.predictions.bias"), "generator_lm_head.bias");
}
