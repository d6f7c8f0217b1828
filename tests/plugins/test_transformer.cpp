// SPDX-License-Identifier: Apache-2.0
// The `transformer` encoder plugin (loaded for real from the build's plugin folder) and the core's safetensors
// reader/writer.
//  - parity: a Hugging Face BERT checkpoint (tests/data/hf-bert-tiny, made by pytorch_pretrained_bert 0.6.2)
//    loads one to one by parameter name and reproduces the reference's every layer, pooled output, MLM and NSP
//    logits to 1e-5, from model.safetensors (pytorch_model.bin, torch.save's zip format, is read by the hf plugin
//    and tested in test_hf_checkpoint.cpp);
//  - safetensors: round trip of every dtype, the header as the format prescribes, corrupt files refused with
//    an error naming the file;
//  - architecture: presets, explicit options over presets, seeded initialisation, gradients everywhere,
//    padding that changes nothing at real tokens, pooling.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <ATen/Parallel.h>

#include "support/test_support.h"
#include "stagehand/config.h"
#include "stagehand/encoder.h"
#include "stagehand/error.h"
#include "plugin/loader.h"
#include "stagehand/registry.h"
#include "stagehand/safetensors.h"

namespace fs = std::filesystem;
using stagehand::ConfigNode;
using stagehand::Encoder;
using stagehand::EncoderInput;
using stagehand::EncoderOutput;
using torch::Tensor;
using TensorMap = std::map<std::string, Tensor>;

namespace {

const fs::path kHfDir = fs::path(STAGEHAND_TEST_DATA) / "hf-bert-tiny";
constexpr double kTolerance = 1e-5;

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& file, const std::string& bytes) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << bytes;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return INFINITY;
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// The plugin is loaded once per process, as the runner does.
struct Plugin {
  stagehand::Registry registry;
  stagehand::PluginLoader loader{registry};
  const stagehand::LoadedPlugin* loaded = nullptr;
  std::string refusals;
  Plugin() {
    loaded = loader.load(fs::path(STAGEHAND_PLUGIN_DIR) / "encoder_transformer.so");
    for (const auto& r : loader.refused()) refusals += r.file.string() + ": " + r.reason + "\n";
  }
};
Plugin& plugin() {
  static Plugin p;
  return p;
}

class Transformer : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(plugin().loaded, nullptr) << "encoder_transformer.so did not load (is the target built?)\n"
                                        << plugin().refusals;
  }

  std::shared_ptr<Encoder> make(const std::string& yaml, uint64_t seed = 1) const {
    stagehand::BuildContext ctx;
    ctx.registry = &plugin().registry;
    ctx.seed = seed;
    return plugin().registry.create<Encoder>(stagehand::parse_yaml(yaml, "test"), ctx);
  }
  std::shared_ptr<Encoder> tiny(uint64_t seed = 1, const std::string& more = "") const {
    return make("{type: transformer, vocab_size: 50, hidden_size: 16, num_layers: 2, num_heads: 4, "
                "intermediate_size: 32, max_positions: 24" +
                    (more.empty() ? std::string() : ", " + more) + "}",
                seed);
  }
};

// ------------------------------------------------------------------ Hugging Face parity

struct Cases {
  Tensor input_ids, token_type_ids, attention_mask;
};

Cases read_cases() {
  nlohmann::json j = nlohmann::json::parse(read_bytes(kHfDir / "cases.json"));
  auto to_tensor = [&](const char* key) {
    std::vector<std::vector<int64_t>> rows = j.at(key).get<std::vector<std::vector<int64_t>>>();
    const int64_t b = static_cast<int64_t>(rows.size()), t = static_cast<int64_t>(rows.at(0).size());
    Tensor out = torch::empty({b, t}, torch::kLong);
    for (int64_t i = 0; i < b; ++i)
      for (int64_t k = 0; k < t; ++k) out[i][k] = rows[i][k];
    return out;
  };
  return {to_tensor("input_ids"), to_tensor("token_type_ids"), to_tensor("attention_mask")};
}

// The encoder spec equivalent to the checkpoint's config.json.
std::string spec_from_hf_config() {
  nlohmann::json c = nlohmann::json::parse(read_bytes(kHfDir / "config.json"));
  EXPECT_EQ(c.at("hidden_act"), "gelu");
  return fmt::format(
      "{{type: transformer, vocab_size: {}, hidden_size: {}, num_layers: {}, num_heads: {}, intermediate_size: {}, "
      "max_positions: {}, type_vocab_size: {}, layer_norm_eps: {}, activation: gelu}}",
      c.at("vocab_size").get<int64_t>(), c.at("hidden_size").get<int64_t>(),
      c.at("num_hidden_layers").get<int64_t>(), c.at("num_attention_heads").get<int64_t>(),
      c.at("intermediate_size").get<int64_t>(), c.at("max_position_embeddings").get<int64_t>(),
      c.at("type_vocab_size").get<int64_t>(), c.at("layer_norm_eps").get<double>());
}

// Copies every `prefix`-named checkpoint tensor onto the parameter of the same name; every parameter must be
// covered and every prefixed tensor used.
void load_prefixed(Encoder& enc, const TensorMap& state, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  auto params = enc.named_parameters();
  size_t used = 0;
  for (const auto& [name, t] : state) {
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string rel = name.substr(prefix.size());
    Tensor* p = params.find(rel);
    ASSERT_NE(p, nullptr) << "checkpoint tensor " << name << " has no parameter '" << rel << "'";
    ASSERT_EQ(p->sizes(), t.sizes()) << rel;
    p->copy_(t);
    ++used;
  }
  EXPECT_EQ(used, params.size()) << "some parameters were not in the checkpoint";
}

// Runs the reference cases through an encoder loaded from `state` (HF names) and compares every output.
void check_against_reference(Encoder& enc, const TensorMap& state, const std::string& source) {
  load_prefixed(enc, state, "bert.");
  enc.eval();
  torch::NoGradGuard no_grad;
  const Cases cases = read_cases();
  const TensorMap expected = stagehand::load_safetensors(kHfDir / "expected.safetensors");
  EncoderOutput out = enc.encode({cases.input_ids, cases.attention_mask, cases.token_type_ids});
  ASSERT_EQ(out.hidden_states.size(), 3u);

  std::map<std::string, Tensor> got = {{"embedding_output", out.hidden_states[0]},
                                       {"layer_0", out.hidden_states[1]},
                                       {"layer_1", out.hidden_states[2]},
                                       {"pooled_output", enc.pool(out, "pooler")}};
  // MLM head: transform (dense, GELU, LayerNorm), then the decoder tied to the word embeddings.
  Tensor h0 = out.hidden_states[2][0];
  Tensor tr = torch::gelu(torch::linear(h0, state.at("cls.predictions.transform.dense.weight"),
                                        state.at("cls.predictions.transform.dense.bias")));
  tr = torch::layer_norm(tr, {tr.size(-1)}, state.at("cls.predictions.transform.LayerNorm.weight"),
                         state.at("cls.predictions.transform.LayerNorm.bias"), 1e-12);
  got["mlm_logits_case0"] = torch::matmul(tr, enc.word_embeddings().t()) + state.at("cls.predictions.bias");
  got["nsp_logits"] = torch::linear(got["pooled_output"], state.at("cls.seq_relationship.weight"),
                                    state.at("cls.seq_relationship.bias"));

  std::string report;
  for (const auto& [name, want] : expected) {
    ASSERT_TRUE(got.count(name)) << "no output computed for expected tensor " << name;
    const double err = max_abs_diff(got.at(name), want);
    EXPECT_LE(err, kTolerance) << source << ": " << name;
    report += fmt::format(" {}={:.3g}", name, err);
  }
  EXPECT_EQ(expected.size(), got.size());
  std::cout << "[ max abs error vs reference, " << source << " ]" << report << std::endl;
  ::testing::Test::RecordProperty("max_abs_errors_" + source, report);
}

TEST_F(Transformer, RegistersWithSchemaAndExample) {
  const auto* info = plugin().registry.find("encoder", "transformer");
  ASSERT_NE(info, nullptr);
  EXPECT_TRUE(info->example.is_map());
  for (const auto& o : info->schema->options()) EXPECT_FALSE(o.doc.empty()) << o.name;
  EXPECT_NE(make(stagehand::to_yaml(info->example)), nullptr);
}

TEST_F(Transformer, ReadsTheHfSafetensorsCheckpoint) {
  std::map<std::string, std::string> meta;
  TensorMap state = stagehand::load_safetensors(kHfDir / "model.safetensors", &meta);
  EXPECT_EQ(meta.at("format"), "pt");
  EXPECT_EQ(state.size(), 46u);
  EXPECT_EQ(state.at("bert.embeddings.word_embeddings.weight").sizes(), (std::vector<int64_t>{30522, 64}));
  EXPECT_EQ(state.at("bert.embeddings.word_embeddings.weight").scalar_type(), torch::kFloat);
}

TEST_F(Transformer, MatchesHfReferenceFromSafetensors) {
  auto enc = make(spec_from_hf_config());
  check_against_reference(*enc, stagehand::load_safetensors(kHfDir / "model.safetensors"), "safetensors");
}

// all_layers: false returns the last layer alone, the very tensor the full output ends with (the embedder and the
// classifier ask for it: they pool the last layer, and inference then holds one layer's states, not all of them).
TEST_F(Transformer, LastLayerOnlyIsTheLastOfAllLayers) {
  auto enc = make("{type: transformer, preset: bert-tiny, vocab_size: 100, num_layers: 3}");
  enc->eval();
  torch::manual_seed(4);
  stagehand::EncoderInput in{torch::randint(1, 100, {2, 9}), torch::ones({2, 9}, torch::kLong), {}};
  in.attention_mask.narrow(1, 6, 3).select(0, 1).zero_();
  auto all = enc->encode(in);
  ASSERT_EQ(all.hidden_states.size(), 4u);
  in.all_layers = false;
  auto last = enc->encode(in);
  ASSERT_EQ(last.hidden_states.size(), 1u);
  EXPECT_TRUE(torch::equal(last.last(), all.last()));
  EXPECT_TRUE(torch::equal(enc->pool(last, "mean"), enc->pool(all, "mean")));
}

// ------------------------------------------------------------------ safetensors

class Safetensors : public ::testing::Test {
 protected:
  sh_test::TempFolder tmp_;
};

TEST_F(Safetensors, RoundTripKeepsEveryDtypeAndValue) {
  torch::manual_seed(3);
  TensorMap in = {
      {"f32", torch::randn({3, 5})},
      {"bf16", torch::randn({4, 2}).to(torch::kBFloat16)},
      {"f16", torch::randn({7}).to(torch::kHalf)},
      {"i64", torch::arange(-5, 7, torch::kLong).view({3, 4})},
      {"i32", torch::tensor({1, -2, 2147483647}, torch::kInt)},
      {"f64", torch::randn({2, 2}, torch::kDouble)},
      {"u8", torch::tensor({0, 255, 7}, torch::kByte)},
      {"flag", torch::tensor({true, false}, torch::kBool)},
      {"scalar", torch::tensor(2.5)},
      {"empty", torch::empty({0, 3})},
      {"strided", torch::randn({6, 4}).t()},  // not contiguous: saved in logical order
  };
  const fs::path file = tmp_ / "t.safetensors";
  stagehand::save_safetensors(file, in, {{"format", "pt"}, {"note", "made by a test"}});
  std::map<std::string, std::string> meta;
  TensorMap out = stagehand::load_safetensors(file, &meta);
  EXPECT_EQ(meta, (std::map<std::string, std::string>{{"format", "pt"}, {"note", "made by a test"}}));
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [name, t] : in) {
    ASSERT_TRUE(out.count(name)) << name;
    EXPECT_EQ(out.at(name).scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(out.at(name).sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(out.at(name), t)) << name;
  }
}

TEST_F(Safetensors, HeaderFollowsTheFormat) {
  TensorMap in = {{"b", torch::ones({3})}, {"a", torch::zeros({2, 2}, torch::kLong)}, {"c", torch::ones({1}, torch::kBFloat16)}};
  const fs::path file = tmp_ / "t.safetensors";
  stagehand::save_safetensors(file, in);
  const std::string bytes = read_bytes(file);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_LE(8 + n, bytes.size());
  const std::string header = bytes.substr(8, n);
  // Hugging Face pads the JSON with spaces up to the 8-byte boundary.
  EXPECT_EQ(header.substr(header.rfind('}') + 1).find_first_not_of(' '), std::string::npos);
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(header);
  EXPECT_FALSE(j.contains("__metadata__"));
  std::vector<std::string> names;
  uint64_t expect_begin = 0;
  for (auto it = j.begin(); it != j.end(); ++it) {
    names.push_back(it.key());
    auto off = it.value().at("data_offsets");
    EXPECT_EQ(off[0].get<uint64_t>(), expect_begin) << it.key() << ": data packed without gaps, in name order";
    expect_begin = off[1].get<uint64_t>();
  }
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(j["a"]["dtype"], "I64");
  EXPECT_EQ(j["b"]["dtype"], "F32");
  EXPECT_EQ(j["c"]["dtype"], "BF16");
  EXPECT_EQ(j["a"]["shape"].get<std::vector<int64_t>>(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(8 + n + expect_begin, bytes.size());
}

// Writes a file from a header text and `data_bytes` zero bytes.
void write_raw(const fs::path& file, const std::string& header, size_t data_bytes, uint64_t claimed_len = 0) {
  std::string out(8, '\0');
  const uint64_t n = claimed_len ? claimed_len : header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += header;
  out.append(data_bytes, '\0');
  write_bytes(file, out);
}

void expect_error(const fs::path& file, const std::vector<std::string>& parts) {
  try {
    stagehand::load_safetensors(file);
    ADD_FAILURE() << "no error for " << file;
  } catch (const stagehand::Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file.string()), std::string::npos) << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST_F(Safetensors, CorruptFilesGiveOneClearError) {
  const fs::path good = tmp_ / "good.safetensors";
  stagehand::save_safetensors(good, {{"w", torch::ones({4, 4})}, {"v", torch::ones({8})}});
  const std::string bytes = read_bytes(good);

  const fs::path truncated = tmp_ / "truncated.safetensors";
  write_bytes(truncated, bytes.substr(0, bytes.size() - 10));
  expect_error(truncated, {"tensor 'w'", "past the end of the data", "truncated"});

  const fs::path tiny = tmp_ / "tiny.safetensors";
  write_bytes(tiny, "abc");
  expect_error(tiny, {"3 bytes", "truncated"});

  const fs::path too_long = tmp_ / "too_long.safetensors";
  write_raw(too_long, "{}", 16, /*claimed_len=*/1ull << 40);
  expect_error(too_long, {"header length 1099511627776", "past the end of the file"});

  const fs::path bad_json = tmp_ / "bad_json.safetensors";
  write_raw(bad_json, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]})", 8);
  expect_error(bad_json, {"not valid JSON"});

  const fs::path huge_number = tmp_ / "huge_number.safetensors";  // out of double's range: a JSON error too
  write_raw(huge_number, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "x": 1e999})", 8);
  expect_error(huge_number, {"not valid JSON"});

  const fs::path out_of_range = tmp_ / "out_of_range.safetensors";
  write_raw(out_of_range, R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  expect_error(out_of_range, {"tensor 'w'", "[0, 16]", "past the end of the data section (8 bytes)"});

  const fs::path wrong_size = tmp_ / "wrong_size.safetensors";
  write_raw(wrong_size, R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8);
  expect_error(wrong_size, {"tensor 'w'", "holds 8 bytes", "needs 12"});

  const fs::path overlap = tmp_ / "overlap.safetensors";
  write_raw(overlap,
            R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},)"
            R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})",
            16);
  expect_error(overlap, {"tensor 'b'", "overlap", "'a'"});

  const fs::path bad_dtype = tmp_ / "bad_dtype.safetensors";
  write_raw(bad_dtype, R"({"w": {"dtype": "F8_E4M3", "shape": [8], "data_offsets": [0, 8]}})", 8);
  expect_error(bad_dtype, {"tensor 'w'", "F8_E4M3", "not supported"});

  expect_error(tmp_ / "missing.safetensors", {"cannot open"});
}

TEST_F(Safetensors, SaveRefusesWhatCannotBeStored) {
  const fs::path file = tmp_ / "x.safetensors";
  EXPECT_THROW(stagehand::save_safetensors(file, {{"c", torch::ones({2}, torch::kComplexFloat)}}), stagehand::Error);
  EXPECT_THROW(stagehand::save_safetensors(file, {{"u", Tensor()}}), stagehand::Error);
  EXPECT_THROW(stagehand::save_safetensors(file, {{"__metadata__", torch::ones({1})}}), stagehand::Error);
  EXPECT_FALSE(fs::exists(file));
}

// ------------------------------------------------------------------ architecture

int64_t bert_parameter_count(int64_t v, int64_t h, int64_t e, int64_t l, int64_t f, int64_t p, int64_t types,
                             bool pooler) {
  int64_t emb = (v + p + types) * e + 2 * e + (e != h ? e * h + h : 0);
  int64_t block = 4 * (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h;
  return emb + l * block + (pooler ? h * h + h : 0);
}

int64_t count(Encoder& enc) {
  int64_t n = 0;
  for (const auto& p : enc.parameters()) n += p.numel();
  return n;
}

TEST_F(Transformer, PresetsHaveTheDocumentedShapes) {
  auto tiny = make("{type: transformer, preset: bert-tiny}");
  EXPECT_EQ(tiny->hidden_size(), 128);
  EXPECT_EQ(tiny->num_layers(), 2);
  EXPECT_EQ(tiny->embedding_size(), 128);
  EXPECT_EQ(count(*tiny), 4385920);  // google-research/bert's BERT-Tiny, with pooler
  EXPECT_EQ(count(*tiny), bert_parameter_count(30522, 128, 128, 2, 512, 512, 2, true));
  auto params = tiny->named_parameters();
  EXPECT_EQ(params.find("embeddings_project.weight"), nullptr);
  EXPECT_EQ(params["encoder.layer.1.intermediate.dense.weight"].sizes(), (std::vector<int64_t>{512, 128}));

  auto electra = make("{type: transformer, preset: electra-small, pooler: false}");
  EXPECT_EQ(electra->hidden_size(), 256);
  EXPECT_EQ(electra->embedding_size(), 128);
  EXPECT_EQ(electra->num_layers(), 12);
  auto ep = electra->named_parameters();
  ASSERT_NE(ep.find("embeddings_project.weight"), nullptr);
  EXPECT_EQ(ep["embeddings_project.weight"].sizes(), (std::vector<int64_t>{256, 128}));
  EXPECT_EQ(ep["embeddings.word_embeddings.weight"].sizes(), (std::vector<int64_t>{30522, 128}));
  EXPECT_EQ(ep["encoder.layer.11.attention.self.query.weight"].sizes(), (std::vector<int64_t>{256, 256}));
  EXPECT_EQ(ep.find("pooler.dense.weight"), nullptr);
  EXPECT_EQ(count(*electra), 13483008);  // ElectraModel (electra-small-discriminator's body, no heads)
  EXPECT_EQ(count(*electra), bert_parameter_count(30522, 256, 128, 12, 1024, 512, 2, false));

  // One layer and a small vocabulary keep these fast (initialisation draws every weight).
  struct Sizes {
    const char* preset;
    int64_t hidden, heads, intermediate, embedding;
  };
  for (const Sizes& s : {Sizes{"bert-mini", 256, 4, 1024, 256}, Sizes{"bert-small", 512, 8, 2048, 512},
                         Sizes{"bert-base", 768, 12, 3072, 768}, Sizes{"electra-base", 768, 12, 3072, 768}}) {
    auto enc = make(fmt::format("{{type: transformer, preset: {}, vocab_size: 100, num_layers: 1}}", s.preset));
    const ConfigNode spec = enc->spec();
    EXPECT_EQ(spec.at("hidden_size").as_int(), s.hidden) << s.preset;
    EXPECT_EQ(spec.at("num_heads").as_int(), s.heads) << s.preset;
    EXPECT_EQ(spec.at("intermediate_size").as_int(), s.intermediate) << s.preset;
    EXPECT_EQ(spec.at("embedding_size").as_int(), s.embedding) << s.preset;
    EXPECT_EQ(enc->named_parameters().find("embeddings_project.weight"), nullptr) << s.preset;
  }
  // bert-base-uncased has 109,482,240 parameters, 30,522 x 768 of them word embeddings and 7,087,872 per block.
  EXPECT_EQ(count(*make("{type: transformer, preset: bert-base, vocab_size: 100, num_layers: 1}")),
            109482240 - (30522 - 100) * 768 - 11 * 7087872);
  EXPECT_EQ(make("{type: transformer, preset: bert-small, num_layers: 1}")->named_parameters()
                ["encoder.layer.0.attention.self.key.weight"].sizes(),
            (std::vector<int64_t>{512, 512}));
}

TEST_F(Transformer, HfParameterNames) {
  auto enc = make("{type: transformer, preset: bert-tiny, vocab_size: 100, num_layers: 1}");
  std::vector<std::string> names;
  for (const auto& kv : enc->named_parameters()) names.push_back(kv.key());
  const std::vector<std::string> want = {
      "embeddings.word_embeddings.weight",
      "embeddings.position_embeddings.weight",
      "embeddings.token_type_embeddings.weight",
      "embeddings.LayerNorm.weight",
      "embeddings.LayerNorm.bias",
      "encoder.layer.0.attention.self.query.weight",
      "encoder.layer.0.attention.self.query.bias",
      "encoder.layer.0.attention.self.key.weight",
      "encoder.layer.0.attention.self.key.bias",
      "encoder.layer.0.attention.self.value.weight",
      "encoder.layer.0.attention.self.value.bias",
      "encoder.layer.0.attention.output.dense.weight",
      "encoder.layer.0.attention.output.dense.bias",
      "encoder.layer.0.attention.output.LayerNorm.weight",
      "encoder.layer.0.attention.output.LayerNorm.bias",
      "encoder.layer.0.intermediate.dense.weight",
      "encoder.layer.0.intermediate.dense.bias",
      "encoder.layer.0.output.dense.weight",
      "encoder.layer.0.output.dense.bias",
      "encoder.layer.0.output.LayerNorm.weight",
      "encoder.layer.0.output.LayerNorm.bias",
      "pooler.dense.weight",
      "pooler.dense.bias",
  };
  EXPECT_EQ(names, want);
}

TEST_F(Transformer, ExplicitOptionsOverrideThePreset) {
  auto enc = make("{type: transformer, preset: bert-tiny, num_layers: 3, intermediate_size: 100, vocab_size: 77}");
  EXPECT_EQ(enc->num_layers(), 3);
  EXPECT_EQ(enc->hidden_size(), 128);  // still the preset's
  EXPECT_EQ(enc->vocab_size(), 77);
  EXPECT_EQ(enc->named_parameters()["encoder.layer.2.intermediate.dense.weight"].sizes(),
            (std::vector<int64_t>{100, 128}));
  auto electra = make("{type: transformer, preset: electra-small, embedding_size: 256, num_layers: 1}");
  EXPECT_EQ(electra->embedding_size(), 256);
  EXPECT_EQ(electra->named_parameters().find("embeddings_project.weight"), nullptr);

  const ConfigNode spec = enc->spec();
  EXPECT_EQ(spec.at("type").as_string(), "transformer");
  EXPECT_EQ(spec.at("num_layers").as_int(), 3);
  EXPECT_EQ(spec.at("hidden_size").as_int(), 128);
  EXPECT_EQ(spec.at("num_heads").as_int(), 2);
  EXPECT_EQ(spec.at("intermediate_size").as_int(), 100);
  EXPECT_DOUBLE_EQ(spec.at("layer_norm_eps").as_double(), 1e-12);
  // The spec rebuilds the same architecture and, under the same seed, the same weights.
  auto again = make(stagehand::to_yaml(spec));
  EXPECT_TRUE(again->spec().equals(spec)) << stagehand::to_yaml(again->spec());
  auto a = enc->named_parameters(), b = again->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& kv : a) EXPECT_TRUE(torch::equal(kv.value(), b[kv.key()])) << kv.key();
}

TEST_F(Transformer, OptionErrorsAreClear) {
  try {
    make("{type: transformer, hidden_size: 30, num_heads: 4}");
    ADD_FAILURE() << "no error";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("not divisible by num_heads"), std::string::npos) << e.what();
  }
  try {
    make("{type: transformer, preset: bert-tinny}");
    ADD_FAILURE() << "no error";
  } catch (const stagehand::Error& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'bert-tiny'"), std::string::npos) << e.what();
  }
  auto enc = tiny();
  EXPECT_THROW(enc->encode({torch::zeros({1, 25}, torch::kLong), {}, {}}), stagehand::Error);  // > max_positions
  EXPECT_THROW(enc->encode({torch::full({1, 3}, 50, torch::kLong), {}, {}}), stagehand::Error);  // id >= vocab
  EXPECT_THROW(enc->encode({torch::zeros({1, 3}, torch::kLong), torch::ones({1, 4}), {}}), stagehand::Error);
  auto out = enc->encode({torch::zeros({1, 3}, torch::kLong), {}, {}});
  EXPECT_THROW(enc->pool(out, "max"), stagehand::Error);
  EXPECT_THROW(tiny(1, "pooler: false")->pool(out, "pooler"), stagehand::Error);
}

TEST_F(Transformer, InitialisationFollowsTheSeed) {
  auto a = tiny(7), b = tiny(7), c = tiny(8);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  for (const auto& kv : pa) EXPECT_TRUE(torch::equal(kv.value(), pb[kv.key()])) << kv.key();
  EXPECT_FALSE(torch::equal(pa["encoder.layer.0.attention.self.query.weight"],
                            pc["encoder.layer.0.attention.self.query.weight"]));
  EXPECT_FALSE(torch::equal(pa["embeddings.word_embeddings.weight"], pc["embeddings.word_embeddings.weight"]));
  // BERT's scheme: N(0, init_std) weights, zero biases, LayerNorm 1 and 0.
  auto big = make("{type: transformer, preset: bert-tiny, init_std: 0.05}");
  auto pbig = big->named_parameters();
  EXPECT_NEAR(pbig["embeddings.word_embeddings.weight"].std().item<double>(), 0.05, 0.001);
  EXPECT_NEAR(pbig["encoder.layer.0.intermediate.dense.weight"].std().item<double>(), 0.05, 0.001);
  EXPECT_EQ(pbig["encoder.layer.0.intermediate.dense.bias"].abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(pbig["embeddings.LayerNorm.weight"], torch::ones({128})));
  EXPECT_TRUE(torch::equal(pbig["encoder.layer.1.output.LayerNorm.bias"], torch::zeros({128})));
  // Building draws from a private generator, not from the global one.
  torch::manual_seed(123);
  Tensor before = torch::rand({4});
  torch::manual_seed(123);
  tiny(9);
  EXPECT_TRUE(torch::equal(before, torch::rand({4})));
}

TEST_F(Transformer, GradientsReachEveryParameter) {
  auto enc = tiny(3);
  enc->train();
  Tensor ids = torch::tensor({{2, 5, 9, 11, 3, 0}, {2, 7, 3, 0, 0, 0}}, torch::kLong);
  Tensor mask = (ids != 0).to(torch::kLong);
  Tensor types = torch::tensor({{0, 0, 0, 1, 1, 0}, {0, 1, 1, 0, 0, 0}}, torch::kLong);
  auto out = enc->encode({ids, mask, types});
  ASSERT_EQ(out.hidden_states.size(), 3u);
  torch::manual_seed(0);
  Tensor loss = (out.last() * torch::randn(out.last().sizes())).sum() + enc->pool(out, "pooler").pow(2).sum();
  loss.backward();
  for (const auto& kv : enc->named_parameters()) {
    const Tensor& g = kv.value().grad();
    ASSERT_TRUE(g.defined()) << kv.key() << " got no gradient";
    EXPECT_TRUE(torch::isfinite(g).all().item<bool>()) << kv.key();
    EXPECT_GT(g.abs().sum().item<double>(), 0.0) << kv.key();
  }
}

TEST_F(Transformer, PaddingDoesNotChangeRealTokens) {
  auto enc = tiny(5);
  enc->eval();
  torch::NoGradGuard no_grad;
  Tensor ids = torch::tensor({{2, 14, 33, 8, 3}}, torch::kLong);
  Tensor types = torch::tensor({{0, 0, 1, 1, 1}}, torch::kLong);
  auto ref = enc->encode({ids, torch::ones({1, 5}, torch::kLong), types});
  // Padding with arbitrary ids and types (not just 0): the mask alone must hide them.
  Tensor ids_p = torch::tensor({{2, 14, 33, 8, 3, 17, 42, 1, 9}}, torch::kLong);
  Tensor types_p = torch::tensor({{0, 0, 1, 1, 1, 1, 0, 1, 0}}, torch::kLong);
  Tensor mask_p = torch::tensor({{1, 1, 1, 1, 1, 0, 0, 0, 0}}, torch::kLong);
  auto pad = enc->encode({ids_p, mask_p, types_p});
  for (size_t i = 0; i < ref.hidden_states.size(); ++i)
    EXPECT_LE(max_abs_diff(pad.hidden_states[i].narrow(1, 0, 5), ref.hidden_states[i]), 1e-5) << "state " << i;
  EXPECT_LE(max_abs_diff(enc->pool(pad, "mean"), enc->pool(ref, "mean")), 1e-5);
  EXPECT_LE(max_abs_diff(enc->pool(pad, "cls"), enc->pool(ref, "cls")), 1e-5);
  EXPECT_LE(max_abs_diff(enc->pool(pad, "pooler"), enc->pool(ref, "pooler")), 1e-5);
  EXPECT_LE(max_abs_diff(enc->pool(ref, "mean"), ref.last().mean(1)), 1e-6);
  EXPECT_LE(max_abs_diff(enc->pool(pad, "cls"), pad.last().select(1, 0)), 0.0);
  // Padding differs from real tokens: the outputs at padded positions are not simply copies.
  EXPECT_GT(max_abs_diff(enc->pool(pad, "mean"), pad.last().mean(1)), 1e-4);
}

TEST_F(Transformer, TokenTypesDefaultToZero) {
  auto enc = tiny(6);
  enc->eval();
  torch::NoGradGuard no_grad;
  Tensor ids = torch::tensor({{2, 14, 33}}, torch::kLong);
  auto a = enc->encode({ids, {}, {}});
  auto b = enc->encode({ids, torch::ones({1, 3}, torch::kLong), torch::zeros({1, 3}, torch::kLong)});
  EXPECT_LE(max_abs_diff(a.last(), b.last()), 1e-6);
}

TEST_F(Transformer, ActivationsAndDropout) {
  Tensor ids = torch::tensor({{2, 14, 33, 4}}, torch::kLong);
  torch::NoGradGuard no_grad;
  auto gelu = tiny(4), tanh = tiny(4, "activation: gelu_tanh"), relu = tiny(4, "activation: relu");
  for (auto* e : {&gelu, &tanh, &relu}) (*e)->eval();
  Tensor g = gelu->encode({ids, {}, {}}).last(), t = tanh->encode({ids, {}, {}}).last(),
         r = relu->encode({ids, {}, {}}).last();
  EXPECT_GT(max_abs_diff(g, t), 0.0);
  EXPECT_LT(max_abs_diff(g, t), 1e-2);
  EXPECT_GT(max_abs_diff(g, r), 1e-4);
  // Dropout acts in training mode only.
  gelu->train();
  EXPECT_GT(max_abs_diff(gelu->encode({ids, {}, {}}).last(), g), 1e-3);
  gelu->eval();
  EXPECT_LE(max_abs_diff(gelu->encode({ids, {}, {}}).last(), g), 0.0);
}

TEST_F(Transformer, RunsInBfloat16) {
  auto enc = tiny(2);
  enc->eval();
  torch::NoGradGuard no_grad;
  Tensor ids = torch::tensor({{2, 14, 33, 8, 0, 0}}, torch::kLong);
  Tensor mask = torch::tensor({{1, 1, 1, 1, 0, 0}}, torch::kLong);
  Tensor f32 = enc->encode({ids, mask, {}}).last();
  enc->to(torch::kBFloat16);
  Tensor bf16 = enc->encode({ids, mask, {}}).last();
  EXPECT_EQ(bf16.scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::isfinite(bf16).all().item<bool>());
  EXPECT_LT(max_abs_diff(bf16.narrow(1, 0, 4), f32.narrow(1, 0, 4)), 0.2);
}

}  // namespace
