// SPDX-License-Identifier: Apache-2.0
#include "stagehand/sdk/upstream.h"

#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <stagehand/error.h>
#include <stagehand/registry.h>

#include "stagehand/sdk/hf_checkpoint.h"

namespace stagehand::sdk {

namespace {

void freeze(Frozen& f) {
  if (f.model) {
    f.model->eval();
    for (auto& p : f.model->parameters()) p.set_requires_grad(false);
  }
  if (f.encoder) {
    f.encoder->eval();
    for (auto& p : f.encoder->parameters()) p.set_requires_grad(false);
  }
}

Frozen from_stage(StageContext& ctx, const std::string& name, Need need, const std::string& purpose) {
  const StageOutput& up = ctx.upstream(name);
  BuildContext bc = ctx.build_context();
  bc.base_dir = up.dir;
  Frozen f;
  f.label = name;
  auto model = up.provides.find("model");
  if (need == Need::Encoder) {
    if (auto enc = up.provides.find("encoder"); enc != up.provides.end()) {
      f.encoder = ctx.registry().create<Encoder>(enc->second, bc);
      return f;
    }
    SH_CHECK(model != up.provides.end(),
             "{}: stage '{}' ({}) provides no encoder or model; name a training stage, or write an encoder in place, "
             "e.g. {{type: hf, path: FOLDER}}",
             purpose, name, up.kind);
    f.model = ctx.registry().create<Model>(model->second, bc);
    f.encoder = f.model->encoder();
    SH_CHECK(f.encoder != nullptr, "{}: the model of stage '{}' has no encoder", purpose, name);
    return f;
  }
  SH_CHECK(model != up.provides.end(), "{}: stage '{}' ({}) provides no model; name a training stage", purpose, name,
           up.kind);
  f.model = ctx.registry().create<Model>(model->second, bc);
  f.encoder = f.model->encoder();
  return f;
}

}  // namespace

std::string source_label(const ConfigNode& ref) {
  if (ref.is_scalar()) return ref.as_string();
  const ConfigNode* type = ref.is_map() ? ref.find("type") : nullptr;
  std::string label = type && type->is_scalar() ? type->as_string() : std::string("spec");
  if (const ConfigNode* path = ref.is_map() ? ref.find("path") : nullptr; path && path->is_scalar()) {
    std::filesystem::path p(path->as_string());
    if (!p.has_filename()) p = p.parent_path();
    label += ":" + p.filename().string();
  }
  return label;
}

std::vector<std::string> source_label_names(const ConfigNode& ref) {
  if (!ref.is_map()) return {};
  const ConfigNode* type = ref.find("type");
  const ConfigNode* path = ref.find("path");
  if (!type || !type->is_scalar() || type->as_string() != "hf" || !path || !path->is_scalar()) return {};
  const std::filesystem::path folder(path->as_string());
  if (!std::filesystem::exists(folder / "config.json")) return {};  // building the model says what is missing
  return hf::label_names(folder);
}

void check_source_labels(const ConfigNode& ref, const std::vector<std::string>& data_labels,
                         const std::string& purpose, const Model* model) {
  if (ref.is_scalar() || data_labels.empty()) return;
  const std::string label = source_label(ref);
  const std::vector<std::string> names = source_label_names(ref);
  if (names.empty()) {
    if (model == nullptr) return;
    const ConfigNode spec = model->spec();
    const ConfigNode* n = spec.is_map() ? spec.find("num_labels") : nullptr;
    if (n && n->is_int() && n->as_int() != static_cast<int64_t>(data_labels.size()))
      fail_at(ref.location(), "{}: model {} scores {} classes, but the dataset has {} ([{}]); evaluate it on data with "
              "its classes", purpose, label, n->as_int(), data_labels.size(), fmt::join(data_labels, ", "));
    return;
  }
  if (names == data_labels) return;
  const std::set<std::string> a(names.begin(), names.end()), b(data_labels.begin(), data_labels.end());
  if (a == b && names.size() == data_labels.size())
    fail_at(ref.location(), "{}: model {} names its classes [{}] (from its config.json) and the dataset [{}]: the "
            "same names in another order; list them in the data's 'labels' option in the model's order",
            purpose, label, fmt::join(names, ", "), fmt::join(data_labels, ", "));
  fail_at(ref.location(), "{}: model {} names its classes [{}] (from its config.json), but the dataset's are [{}]; "
          "use data with the model's classes, or correct id2label in {}", purpose, label, fmt::join(names, ", "),
          fmt::join(data_labels, ", "), (std::filesystem::path(ref.at("path").as_string()) / "config.json").string());
}

Frozen frozen_source(StageContext& ctx, const ConfigNode& ref, Need need, const std::string& purpose) {
  Frozen f;
  if (ref.is_scalar()) {
    f = from_stage(ctx, ref.as_string(), need, purpose);
  } else {
    SH_CHECK(ref.is_map() && ref.find("type"),
             "{}: expected the name of a stage or a {} spec such as {{type: hf, path: FOLDER}}, got a {}", purpose,
             need == Need::Model ? "model" : "encoder", ref.type_name());
    f.label = source_label(ref);
    if (need == Need::Model) {
      f.model = ctx.registry().create<Model>(ref, ctx.build_context());
      f.encoder = f.model->encoder();
    } else {
      f.encoder = ctx.registry().create<Encoder>(ref, ctx.build_context());
    }
  }
  freeze(f);
  return f;
}

std::shared_ptr<Model> frozen_model(StageContext& ctx, const std::string& stage, const std::string& purpose) {
  return frozen_source(ctx, ConfigNode::of(stage), Need::Model, purpose).model;
}

}  // namespace stagehand::sdk
