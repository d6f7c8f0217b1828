// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/train/teacher.h"

#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/serialize.h>

#include <stagehand/checkpoint.h>
#include <stagehand/error.h>
#include <stagehand/nn.h>
#include <stagehand/registry.h>

namespace stagehand::sdk::train {

namespace fs = std::filesystem;

torch::Tensor LogitsById::lookup(const std::vector<std::string>& ids) const {
  SH_CHECK(!ids.empty(), "teacher_logits: the dataset gives its batches no example ids, so logits cannot be "
                         "matched to examples; use a dataset with ids (or teacher: STAGE for live logits)");
  torch::Tensor t = torch::empty({static_cast<int64_t>(ids.size()), width}, torch::kFloat32);
  float* out = t.data_ptr<float>();
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = rows.find(ids[i]);
    SH_CHECK(it != rows.end(),
             "teacher_logits: no logits for example '{}' in {} ({} examples); give predict stages over every split "
             "this stage trains or evaluates on",
             ids[i], sources, rows.size());
    std::copy(it->second.begin(), it->second.end(), out + static_cast<int64_t>(i) * width);
  }
  return t;
}

void LogitsById::add(const std::string& id, std::vector<float> row, const std::string& where) {
  if (width == 0) width = static_cast<int64_t>(row.size());
  SH_CHECK(static_cast<int64_t>(row.size()) == width, "teacher_logits: {} has {} logits where earlier examples have {}",
           where, row.size(), width);
  auto [pos, fresh] = rows.emplace(id, row);
  SH_CHECK(fresh || pos->second == row, "teacher_logits: example '{}' has two different logit rows ({})", id, where);
}

namespace {

void add_jsonl(LogitsById& out, const fs::path& file) {
  std::ifstream in(file);
  SH_CHECK(in.good(), "teacher_logits: cannot read '{}'", file.string());
  std::string line;
  int64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    SH_CHECK(!j.is_discarded() && j.contains("id") && j.contains("logits"),
             "teacher_logits: {}:{} is not a predictions line {{\"id\": ..., \"logits\": [...]}}", file.string(), n);
    const std::string id = j["id"].is_string() ? j["id"].get<std::string>() : j["id"].dump();
    out.add(id, j["logits"].get<std::vector<float>>(), fmt::format("{}:{}", file.string(), n));
  }
}

// The ids file of a tensor archive: one id per row, in row order (a final newline ends the last one).
std::vector<std::string> read_ids(const fs::path& ids_file, const fs::path& logits_file) {
  std::ifstream in(ids_file);
  SH_CHECK(in.good(), "teacher_logits: cannot read '{}', the example ids of the rows of '{}'; the predict stage that "
           "wrote the logits writes both", ids_file.string(), logits_file.string());
  std::vector<std::string> ids;
  std::string id;
  while (std::getline(in, id)) ids.push_back(id);
  return ids;
}

void add_archive(LogitsById& out, const fs::path& file) {
  torch::serialize::InputArchive ar;
  read_archive(file, ar);
  torch::Tensor t;
  ar.read("logits", t);
  t = t.to(torch::kFloat32).contiguous().view({t.size(0), -1});
  fs::path ids_file = file;
  ids_file.replace_extension(".ids.txt");
  const std::vector<std::string> ids = read_ids(ids_file, file);
  // Row r is example ids[r]: counts that differ mean the two files are not one predict stage's output.
  SH_CHECK(static_cast<int64_t>(ids.size()) == t.size(0),
           "teacher_logits: '{}' holds {} rows of logits but '{}' lists {} example ids; they must match one for one "
           "(write both with one predict stage, output: tensor)",
           file.string(), t.size(0), ids_file.string(), ids.size());
  for (int64_t r = 0; r < t.size(0); ++r) {
    const float* p = t[r].data_ptr<float>();
    out.add(ids[static_cast<size_t>(r)], std::vector<float>(p, p + t.size(1)), fmt::format("{} row {}", file.string(), r));
  }
}

}  // namespace

void LogitsById::add_file(const fs::path& file) {
  if (file.extension() == ".jsonl")
    add_jsonl(*this, file);
  else
    add_archive(*this, file);
}

LogitsById read_teacher_logits(StageContext& ctx, const std::vector<std::string>& stages) {
  LogitsById out;
  out.sources = fmt::format("stage(s) {}", fmt::join(stages, ", "));
  for (const auto& name : stages) {
    const StageOutput& up = ctx.upstream(name);
    auto it = up.provides.find("predictions");
    SH_CHECK(it != up.provides.end(), "teacher_logits: stage '{}' ({}) provides no predictions; name predict stages",
             name, up.kind);
    out.add_file(up.dir / it->second.at("file").as_string());
  }
  SH_CHECK(!out.rows.empty(), "teacher_logits: {} hold no logits", out.sources);
  return out;
}

Teacher Teacher::live(std::shared_ptr<Model> model, bool bf16) {
  Teacher t;
  t.model_ = std::move(model);
  t.bf16_ = bf16;
  return t;
}

Teacher Teacher::cached(std::shared_ptr<const LogitsById> logits) {
  Teacher t;
  t.logits_ = std::move(logits);
  return t;
}

Teacher Teacher::from_options(StageContext& ctx, bool bf16) {
  const Options& o = ctx.options();
  Teacher t;
  if (o.has("teacher")) t = live(frozen_model(ctx, o.get<std::string>("teacher")), bf16);
  SH_CHECK(!(t.model_ && o.has("teacher_logits")),
           "teacher and teacher_logits are both set; give one: a teacher stage (logits computed live) or predict "
           "stages holding its logits");
  if (!o.has("teacher_logits")) return t;
  std::vector<std::string> stages;
  for (const auto& n : o.node("teacher_logits").items()) stages.push_back(n.as_string());
  t = cached(std::make_shared<const LogitsById>(read_teacher_logits(ctx, stages)));
  ctx.info(fmt::format("teacher logits of {} examples ({} values each) from {}", t.logits_->rows.size(),
                       t.logits_->width, fmt::join(stages, ", ")));
  return t;
}

void Teacher::add_to(Batch& b) const {
  if (logits_) {
    b.set("teacher.logits", logits_->lookup(b.ids));
    return;
  }
  if (!model_) return;
  torch::NoGradGuard ng;
  nn::Bf16Autocast ac(bf16_);
  b.set("teacher.logits", model_->forward(b).at("logits").to(torch::kFloat32));
}

std::function<void(Batch&)> Teacher::prepare() const {
  if (!*this) return nullptr;
  const Teacher self = *this;
  return [self](Batch& b) { self.add_to(b); };
}

}  // namespace stagehand::sdk::train
