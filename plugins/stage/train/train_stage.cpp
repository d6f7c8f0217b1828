// SPDX-License-Identifier: Apache-2.0
// Stage kind `train`: the training engine. One loop serves every design in the pipelines (classification,
// pretraining objectives, distillation from a teacher stage, siamese and triplet models): the model maps a batch
// to named outputs, the loss reads them, evaluators judge them. The data order is a pure function of
// (seed, epoch), so a checkpoint only needs the step number, the weights, the optimizer state and the RNG state
// for a resumed run to end bit-identical to an uninterrupted one.
#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/serialize.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <optional>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include <stagehand/checkpoint.h>
#include <stagehand/dataset.h>
#include <stagehand/distributed.h>
#include <stagehand/engine.h>
#include <stagehand/model.h>
#include <stagehand/nn.h>
#include <stagehand/optim.h>
#include <stagehand/plugin.h>
#include <stagehand/stage.h>
#include <stagehand/util.h>

#include "clip_gradients.h"
#include "hf_checkpoint.h"
#include "train_plugin.h"

namespace stagehand::train {
namespace {

namespace fs = std::filesystem;

/// A teacher's logits written by predict stages, by example id.
struct LogitsById {
  std::unordered_map<std::string, std::vector<float>> rows;
  int64_t width = 0;
  std::string sources;
  /// (B, width) float32 logits of the batch's examples, in batch order.
  torch::Tensor lookup(const std::vector<std::string>& ids) const {
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
};

LogitsById read_teacher_logits(StageContext& ctx, const std::vector<std::string>& stages) {
  LogitsById out;
  out.sources = fmt::format("stage(s) {}", fmt::join(stages, ", "));
  for (const auto& name : stages) {
    const StageOutput& up = ctx.upstream(name);
    auto it = up.provides.find("predictions");
    SH_CHECK(it != up.provides.end(), "teacher_logits: stage '{}' ({}) provides no predictions; name predict stages",
             name, up.kind);
    const fs::path file = up.dir / it->second.at("file").as_string();
    auto add = [&](const std::string& id, std::vector<float> v, const std::string& where) {
      if (out.width == 0) out.width = static_cast<int64_t>(v.size());
      SH_CHECK(static_cast<int64_t>(v.size()) == out.width,
               "teacher_logits: {} has {} logits where earlier examples have {}", where, v.size(), out.width);
      auto [pos, fresh] = out.rows.emplace(id, v);
      SH_CHECK(fresh || pos->second == v, "teacher_logits: example '{}' has two different logit rows ({})", id, where);
    };
    if (file.extension() == ".jsonl") {
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
        add(id, j["logits"].get<std::vector<float>>(), fmt::format("{}:{}", file.string(), n));
      }
    } else {
      torch::serialize::InputArchive ar;
      read_archive(file, ar);
      torch::Tensor t;
      ar.read("logits", t);
      t = t.to(torch::kFloat32).contiguous().view({t.size(0), -1});
      fs::path ids_file = file;
      ids_file.replace_extension(".ids.txt");
      std::ifstream in(ids_file);
      std::string id;
      for (int64_t r = 0; r < t.size(0); ++r) {
        SH_CHECK(static_cast<bool>(std::getline(in, id)), "teacher_logits: '{}' has fewer ids than '{}' has rows",
                 ids_file.string(), file.string());
        const float* p = t[r].data_ptr<float>();
        add(id, std::vector<float>(p, p + t.size(1)), fmt::format("{} row {}", file.string(), r));
      }
    }
  }
  SH_CHECK(!out.rows.empty(), "teacher_logits: {} hold no logits", out.sources);
  return out;
}

/// Builds batches ahead of the step on a background thread. Batch k of the run is a pure function of k, so
/// the prefetcher can run freely ahead; it never changes what the step sees.
class Prefetcher {
 public:
  using Make = std::function<Batch(int64_t)>;
  Prefetcher(Make make, int64_t first, int64_t depth) : make_(std::move(make)), next_(first), depth_(depth) {
    worker_ = std::thread([this] { loop(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  Batch get() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return !ready_.empty() || error_; });
    if (error_) std::rethrow_exception(error_);
    Batch b = std::move(ready_.front());
    ready_.pop_front();
    cv_.notify_all();
    return b;
  }

 private:
  void loop() {
    while (true) {
      int64_t k;
      {
        std::unique_lock<std::mutex> l(mu_);
        cv_.wait(l, [this] { return stop_ || static_cast<int64_t>(ready_.size()) < depth_; });
        if (stop_) return;
        k = next_++;
      }
      try {
        Batch b = make_(k);
        std::lock_guard<std::mutex> l(mu_);
        ready_.push_back(std::move(b));
      } catch (...) {
        std::lock_guard<std::mutex> l(mu_);
        error_ = std::current_exception();
      }
      cv_.notify_all();
      if (error_) return;
    }
  }
  Make make_;
  int64_t next_;
  int64_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread worker_;
};

bool no_decay_name(const std::string& n) {
  auto ends = [&](const std::string& s) { return n.size() >= s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0; };
  return ends(".bias") || ends("bias") || n.find("LayerNorm") != std::string::npos ||
         n.find("layer_norm") != std::string::npos || n.find("norm.") != std::string::npos;
}

/// Depth of a parameter for layer-wise learning-rate decay, as ELECTRA counts it: embeddings 0, encoder block i
/// at i + 1, the rest of the encoder (pooler) L + 1, everything outside the encoder (task heads) L + 2.
int64_t param_depth(const std::string& n, int64_t layers) {
  if (n.rfind("encoder.", 0) != 0) return layers + 2;
  if (n.find(".embeddings") != std::string::npos || n.find("embeddings_project") != std::string::npos) return 0;
  auto p = n.find(".layer.");
  if (p != std::string::npos) {
    try {
      return std::stoll(n.substr(p + 7)) + 1;
    } catch (...) {
    }
  }
  return layers + 1;
}

/// `init_hf`: the encoder's tensors from the folder (all of them, under the checkpoint's prefix) and every other
/// model tensor the checkpoint has under the same name.
void init_from_hf(StageContext& ctx, Model& model, const std::filesystem::path& folder) {
  auto encoder = model.encoder();
  SH_CHECK(encoder != nullptr, "init_hf: the model has no encoder to initialise from {}", folder.string());
  std::string child;
  for (const auto& c : model.named_children())
    if (c.value().get() == static_cast<torch::nn::Module*>(encoder.get())) child = c.key();
  SH_CHECK(!child.empty(), "init_hf: the model's encoder is not one of its direct submodules, so its tensors "
           "cannot be named");
  const hf::Checkpoint ck = hf::read_folder(folder);
  const ConfigNode spec = model.spec();  // a classifier's head maps onto <Type>ForSequenceClassification
  const hf::ModelLoad r = hf::load_model(model, ck, child, &spec);
  ctx.info(fmt::format("initialised the model from {} ({}, {}): the encoder{}{}", ck.weights_file.string(),
                       ck.model_type, ck.prefix.empty() ? "no prefix" : "prefix " + ck.prefix,
                       r.heads.empty() ? "" : fmt::format(" and {} head tensor(s)", r.heads.size()),
                       r.fresh.empty() ? "" : fmt::format("; newly initialised: {}", fmt::join(r.fresh, ", "))));
  if (!r.unused.empty())
    ctx.info(fmt::format("init_hf: {} checkpoint tensor(s) not used: {}{}", r.unused.size(),
                         fmt::join(r.unused.begin(), r.unused.begin() + std::min<long>(6, r.unused.size()), ", "),
                         r.unused.size() > 6 ? ", ..." : ""));
}

/// Rank `rank`'s contiguous share of `n` examples among `ranks`: (first, count); the first n % ranks ranks get
/// one more.
std::pair<int64_t, int64_t> rank_share(int64_t n, int rank, int ranks) {
  const int64_t base = n / ranks, extra = n % ranks;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

std::string fmt_metrics(const std::map<std::string, double>& m) {
  std::string s;
  for (const auto& [k, v] : m) {
    if (k.find('.') != std::string::npos) continue;  // per-class details go to the record only
    s += fmt::format("{}{}={:.4f}", s.empty() ? "" : " ", k, v);
  }
  return s;
}

class TrainStage : public Stage {
 public:
  void run(StageContext& ctx) override;
};

void TrainStage::run(StageContext& ctx) {
  const Options& o = ctx.options();
  const Registry& reg = ctx.registry();
  BuildContext bc = ctx.build_context();
  torch::manual_seed(ctx.seed());

  // ---- data
  auto data = ctx.build<Dataset>("data");
  record_skipped(ctx, *data);
  const std::string train_split = o.get<std::string>("train_split");
  const std::string eval_split = o.get<std::string>("eval_split");
  SH_CHECK(data->has_split(train_split), "the dataset has no '{}' split (it has: {})", train_split,
           fmt::join(data->splits(), ", "));
  const bool can_eval = data->has_split(eval_split) && data->size(eval_split) > 0;
  const int64_t n_train = data->size(train_split);
  SH_CHECK(n_train > 0, "the '{}' split of the dataset is empty; check the data files", train_split);

  // ---- model (dimensions the spec leaves open come from the data; `init` loads earlier weights into it)
  ConfigNode model_spec = o.node("model");
  std::string init_stage = o.has("init") ? o.get<std::string>("init") : "";
  const std::string init_what = o.get<std::string>("init_from");
  model_spec = fill_hints(model_spec, "model", data->hints(), reg);
  auto model = reg.create<Model>(model_spec, bc);
  if (!init_stage.empty()) {
    const auto& up = ctx.upstream(init_stage);
    if (init_what == "model") {
      auto it = up.provides.find("model");
      SH_CHECK(it != up.provides.end(), "init: stage '{}' provides no model", init_stage);
      load_weights(up.dir / it->second.at("weights").as_string(), *model);
    } else {
      auto it = up.provides.find("encoder");
      SH_CHECK(it != up.provides.end(), "init: stage '{}' provides no encoder", init_stage);
      SH_CHECK(model->encoder(), "init: the model has no encoder to initialise");
      load_weights(up.dir / it->second.at("weights").as_string(), *model->encoder());
    }
    ctx.info(fmt::format("initialised the {} from stage '{}'", init_what, init_stage));
  }
  if (o.has("init_hf")) {
    SH_CHECK(init_stage.empty(), "init and init_hf are both set; give one: an earlier stage, or a Hugging Face folder");
    init_from_hf(ctx, *model, o.path("init_hf"));
  }
  std::shared_ptr<Model> teacher;
  if (o.has("teacher")) {
    const auto& up = ctx.upstream(o.get<std::string>("teacher"));
    auto it = up.provides.find("model");
    SH_CHECK(it != up.provides.end(), "teacher: stage '{}' provides no model", up.name);
    BuildContext tbc = bc;
    tbc.base_dir = up.dir;
    teacher = reg.create<Model>(it->second, tbc);
    teacher->eval();
    for (auto& p : teacher->parameters()) p.set_requires_grad(false);
  }

  // Or the teacher's logits computed once by predict stages (DSE's logits file), looked up by example id.
  SH_CHECK(!(teacher && o.has("teacher_logits")),
           "teacher and teacher_logits are both set; give one: a teacher stage (logits computed live) or predict "
           "stages holding its logits");
  std::shared_ptr<const LogitsById> cached_logits;
  if (o.has("teacher_logits")) {
    std::vector<std::string> stages;
    for (const auto& n : o.node("teacher_logits").items()) stages.push_back(n.as_string());
    cached_logits = std::make_shared<const LogitsById>(read_teacher_logits(ctx, stages));
    ctx.info(fmt::format("teacher logits of {} examples ({} values each) from {}", cached_logits->rows.size(),
                         cached_logits->width, fmt::join(stages, ", ")));
  }

  // The teacher's logits join every batch, in training and in evaluation (the loss reads them in both).
  auto add_teacher = [&](Batch& b) {
    if (cached_logits) {
      b.set("teacher.logits", cached_logits->lookup(b.ids));
      return;
    }
    if (!teacher) return;
    torch::NoGradGuard ng;
    nn::Bf16Autocast ac(o.get<std::string>("precision") == "bf16");
    b.set("teacher.logits", teacher->forward(b).at("logits").to(torch::kFloat32));
  };
  const std::function<void(Batch&)> prepare =
      teacher || cached_logits ? std::function<void(Batch&)>(add_teacher) : nullptr;

  // ---- what trains, and how fast
  auto freeze = o.get<std::vector<std::string>>("freeze");
  auto optimizer = ctx.build<Optimizer>("optimizer");
  auto scheduler = ctx.build<Scheduler>("scheduler");
  auto loss = ctx.build<Loss>("loss");
  std::vector<std::shared_ptr<Evaluator>> evaluators;
  for (const auto& e : o.node("evaluators").items()) evaluators.push_back(reg.create<Evaluator>(e, bc));
  // Label names now, so that an evaluator option naming a label that does not exist fails before training.
  for (auto& e : evaluators) e->set_labels(data->labels());
  const double lld = o.get<double>("layerwise_lr_decay");
  const int64_t layers = model->encoder() ? model->encoder()->num_layers() : 0;
  std::vector<NamedParameter> params;
  std::vector<torch::Tensor> trainable;
  int64_t n_frozen = 0, n_params = 0;
  // A tensor shared by two submodules (ELECTRA's generator and discriminator embeddings) is listed under each
  // name; it is one parameter, updated once, under the first name.
  std::set<const void*> seen;
  for (auto& p : model->named_parameters(true)) {
    if (!seen.insert(p.value().unsafeGetTensorImpl()).second) continue;
    bool frozen = false;
    for (const auto& f : freeze)
      if (p.key() == f || p.key().rfind(f + ".", 0) == 0) frozen = true;
    if (frozen) {
      p.value().set_requires_grad(false);
      ++n_frozen;
      continue;
    }
    if (!p.value().requires_grad()) continue;
    NamedParameter np;
    np.name = p.key();
    np.tensor = p.value();
    np.decay = !(optimizer->exclude_bias_and_norm_from_decay() && no_decay_name(p.key()));
    np.lr_scale = lld == 1.0 ? 1.0 : std::pow(lld, static_cast<double>(layers + 2 - param_depth(p.key(), layers)));
    params.push_back(np);
    trainable.push_back(p.value());
    n_params += p.value().numel();
  }
  SH_CHECK(!params.empty(), "nothing to train: every parameter is frozen (freeze: {})", fmt::join(freeze, ", "));
  optimizer->setup(params);

  // ---- data-parallel: every rank starts from rank 0's weights and draws its own dropout (rank 0 keeps the
  // stage's random stream, so one rank is exactly a single-process run).
  const dist::World& world = dist::world();
  const bool dp = dist::active();
  const int ranks = world.world_size;
  // Rank 0's parameters and buffers to every rank.
  auto broadcast_weights = [&] {
    torch::NoGradGuard ng;
    std::vector<torch::Tensor> state;
    for (auto& p : model->parameters()) state.push_back(p.data());
    for (auto& b : model->buffers()) state.push_back(b);
    dist::broadcast(state);
  };
  if (dp) {
    broadcast_weights();
    if (world.rank != 0) torch::manual_seed(derive_seed(ctx.seed(), fmt::format("rank-{}", world.rank)));
  }
  dist::GradientReducer reducer(trainable);

  // ---- schedule
  const int64_t batch_size = o.get<int64_t>("batch_size");
  const int64_t accum = o.get<int64_t>("grad_accum");
  const int64_t micro_per_epoch = (n_train + batch_size - 1) / batch_size;
  const int64_t steps_per_epoch = std::max<int64_t>(1, micro_per_epoch / accum);
  int64_t total = 0;
  if (o.has("steps")) {
    total = o.get<int64_t>("steps");
  } else {
    total = static_cast<int64_t>(std::ceil(o.get<double>("epochs") * static_cast<double>(steps_per_epoch)));
  }
  SH_CHECK(total > 0, "the stage would train for 0 steps; set steps or epochs");
  const int64_t eval_every = o.has("eval_every") ? o.get<int64_t>("eval_every") : steps_per_epoch;
  const int64_t ckpt_every = o.has("checkpoint_every") ? o.get<int64_t>("checkpoint_every") : std::min<int64_t>(eval_every, 500);
  const int64_t log_every = o.get<int64_t>("log_every");
  const int patience = static_cast<int>(o.get<int64_t>("early_stopping_patience"));
  const bool bf16 = o.get<std::string>("precision") == "bf16";
  const double clip = o.get<double>("clip_norm");
  const bool clip_per_tensor = o.get<std::string>("clip_mode") == "per_tensor";
  const int64_t eval_bs = o.has("eval_batch_size") ? o.get<int64_t>("eval_batch_size") : batch_size;
  const std::string primary = evaluators.empty() ? "loss" : evaluators.front()->primary_metric();
  const bool higher = evaluators.empty() ? false : evaluators.front()->higher_is_better();
  const uint64_t data_seed = derive_seed(ctx.seed(), "data");
  SH_CHECK(batch_size >= ranks,
           "batch_size {} is smaller than the {} data-parallel ranks; batch_size is the whole batch, divided among the "
           "ranks: give at least {}",
           batch_size, ranks, ranks);
  if (dp)
    ctx.info(fmt::format("data-parallel: {} ranks ({}), {} examples per rank per micro-batch", ranks, world.backend,
                         batch_size / ranks));
  ctx.info(fmt::format("{} examples, batch {} x {} accumulation, {} steps ({} per epoch), {} trainable tensors "
                       "({:.2f} M values), {} frozen, {}",
                       n_train, batch_size, accum, total, steps_per_epoch, params.size(), n_params / 1e6, n_frozen,
                       bf16 ? "bf16 autocast" : "fp32"));

  // ---- resume
  fs::path ckpt_dir = ctx.output_dir() / "checkpoints";
  fs::path best_file = ctx.output_dir() / "best.pt";
  int64_t step = 0;
  double best = higher ? -INFINITY : INFINITY;
  int64_t best_step = -1;
  int64_t bad_evals = 0;
  {
    torch::serialize::InputArchive ar;
    std::optional<CheckpointFile> got;
    if (world.rank == 0)
      got = load_latest_checkpoint(ckpt_dir, ar, [&](const std::string& w) { ctx.info("warning: " + w); });
    if (dp) {
      // Rank 0's checkpoint, byte for byte, for every rank (which need not see rank 0's folder).
      const std::string bytes = dist::broadcast_bytes(got ? read_file(got->file) : std::string());
      if (world.rank != 0 && !bytes.empty()) {
        ar.load_from(bytes.data(), bytes.size());
        got = CheckpointFile{};
      }
    }
    if (got) {
      torch::serialize::InputArchive m, opt;
      ar.read("model", m);
      ar.read("optimizer", opt);
      model->load(m);
      optimizer->load(opt);
      // A fresh tensor per entry: InputArchive::read into a defined tensor calls set_() on it, which keeps that
      // tensor's dtype, so reusing one tensor read the float64 `best` as an integer and lost it (the first
      // evaluation after a resume then always counted as an improvement and could change the selected model).
      auto read = [&](const char* key) {
        torch::Tensor t;
        ar.read(key, t);
        return t;
      };
      if (world.rank == 0) {
        set_rng_state(read("rng"));
      } else {
        torch::Tensor rng;
        if (ar.try_read(fmt::format("rng.rank{}", world.rank), rng))
          set_rng_state(rng);
        else
          ctx.info(fmt::format("warning: the checkpoint has no random state for rank {} (it was written by fewer "
                               "ranks); this rank's dropout starts afresh",
                               world.rank));
      }
      step = read("step").item<int64_t>();
      best = read("best").item<double>();
      best_step = read("best_step").item<int64_t>();
      bad_evals = read("bad_evals").item<int64_t>();
      if (world.rank == 0)
        ctx.info(fmt::format("resumed from {} (step {} of {})", got->file.filename().string(), step, total));
    }
  }
  auto save_checkpoint = [&]() {
    // Every rank's random state goes in (a collective), rank 0 writes.
    std::vector<torch::Tensor> rngs = dist::all_gather(get_rng_state());
    if (world.rank != 0) return;
    torch::serialize::OutputArchive ar, m, opt;
    model->save(m);
    optimizer->save(opt);
    ar.write("model", m);
    ar.write("optimizer", opt);
    ar.write("rng", get_rng_state());
    ar.write("step", torch::tensor(step));
    ar.write("best", torch::tensor(best, torch::kFloat64));
    ar.write("best_step", torch::tensor(best_step));
    ar.write("bad_evals", torch::tensor(bad_evals));
    for (int r = 1; r < ranks; ++r) ar.write(fmt::format("rng.rank{}", r), rngs[static_cast<size_t>(r)]);
    write_checkpoint(ckpt_dir, step, ar, static_cast<int>(o.get<int64_t>("keep_checkpoints")));
  };

  auto make_batch = [&](int64_t k) {
    int64_t epoch = k / micro_per_epoch;
    int64_t within = k % micro_per_epoch;
    auto order = epoch_order(n_train, data_seed, epoch);  // cheap next to a training step
    std::vector<int64_t> idx(order.begin() + within * batch_size,
                             order.begin() + std::min(n_train, (within + 1) * batch_size));
    if (dp) {
      // This rank's contiguous share of the whole micro-batch; a rank left without examples (the last,
      // short batch of an epoch) runs the first one with weight 0, so that every rank's graph is the same.
      const auto [first, count] = rank_share(static_cast<int64_t>(idx.size()), world.rank, ranks);
      idx = count > 0 ? std::vector<int64_t>(idx.begin() + first, idx.begin() + first + count)
                      : std::vector<int64_t>{idx.front()};
    }
    return data->batch(train_split, idx);
  };
  // The weight of this rank's share of micro-batch k: its fraction of the whole micro-batch.
  auto share_weight = [&](int64_t k) {
    const int64_t within = k % micro_per_epoch;
    const int64_t n = std::min(n_train, (within + 1) * batch_size) - within * batch_size;
    return static_cast<double>(rank_share(n, world.rank, ranks).second) / static_cast<double>(n);
  };
  Prefetcher prefetch(make_batch, step * accum, 4);

  const int64_t first_step = step;
  model->train();
  auto bar = ctx.progress("train", total);
  auto t_start = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  double last_loss = NAN;
  bool stopped_early = false;
  const double base_lr = optimizer->base_lr();
  while (step < total) {
    optimizer->zero_grad();
    double step_loss = 0;
    std::map<std::string, double> part_sums;
    int64_t step_tokens = 0;
    for (int64_t a = 0; a < accum; ++a) {
      Batch b = prefetch.get();
      const double weight = dp ? share_weight(step * accum + a) : 1.0;
      if (weight > 0) step_tokens += b.tokens();
      add_teacher(b);
      torch::Tensor l;
      std::map<std::string, torch::Tensor> parts;
      {
        nn::Bf16Autocast ac(bf16);
        Batch out = model->forward(b);
        l = loss->compute(out, b, parts);
      }
      if (dp) {
        // Summed over the ranks, the weighted losses make the whole micro-batch's mean loss.
        l = l.to(torch::kFloat32) * (weight / static_cast<double>(accum));
      } else {
        l = l.to(torch::kFloat32) / static_cast<double>(accum);
      }
      // The last micro-batch's backward pass starts each bucket's all-reduce as soon as its gradients are in.
      if (dp && a == accum - 1) reducer.arm();
      l.backward();
      step_loss += l.item<double>();
      for (const auto& [k, v] : parts) part_sums[k] += v.item<double>() * (dp ? weight : 1.0) / static_cast<double>(accum);
    }
    bool stop_now = ctx.stop_requested();
    if (dp) {
      reducer.reduce();
      // The step's loss, its parts, its tokens and whether any rank was asked to stop, summed over the ranks:
      // every rank takes the same decisions.
      std::vector<double> v{step_loss, static_cast<double>(step_tokens), stop_now ? 1.0 : 0.0};
      for (const auto& [k, x] : part_sums) v.push_back(x);
      dist::all_reduce_sum(v);
      step_loss = v[0];
      step_tokens = static_cast<int64_t>(v[1]);
      stop_now = v[2] > 0;
      size_t i = 3;
      for (auto& [k, x] : part_sums) x = v[i++];
    }
    tokens += step_tokens;
    if (!std::isfinite(step_loss)) {
      auto last = list_checkpoints(ckpt_dir);
      throw Error(fmt::format("the loss became {} at step {}; training stopped{}. Lower the learning rate or check "
                              "the data",
                              step_loss, step + 1,
                              last.empty() ? "" : fmt::format(" (the last good checkpoint, step {}, is kept)", last.front().step)));
    }
    clip_gradients(trainable, clip, clip_per_tensor);
    double lr = base_lr * scheduler->factor(step, total);
    optimizer->step(lr);
    ++step;
    last_loss = step_loss;

    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (step % log_every == 0 || step == total) {
      std::vector<std::pair<std::string, double>> values = {{"loss", step_loss}, {"lr", lr}};
      for (const auto& [k, v] : part_sums) values.emplace_back(k, v);
      if (secs > 0) values.emplace_back("tokens_per_s", static_cast<double>(tokens) / secs);
      ctx.log_values(step, values);
    }
    bar->update(step, {{"loss", step_loss}, {"lr", lr}, {"tok/s", secs > 0 ? static_cast<double>(tokens) / secs : 0}});

    if (can_eval && (step % eval_every == 0 || step == total)) {
      // With several ranks, each runs the model over its share of the batches and all see every output.
      auto m = dp ? evaluate_split_data_parallel(*model, *data, eval_split, evaluators, eval_bs, loss.get(), prepare)
                  : evaluate_split(*model, *data, eval_split, evaluators, eval_bs, loss.get(), &ctx, prepare);
      std::vector<std::pair<std::string, double>> values;
      for (const auto& [k, v] : m) values.emplace_back("eval." + k, v);
      ctx.log_values(step, values);
      double score = m.count(primary) ? m.at(primary) : NAN;
      bool improved = std::isfinite(score) && (higher ? score > best : score < best);
      if (improved) {
        best = score;
        best_step = step;
        bad_evals = 0;
        if (world.rank == 0) save_weights(best_file, *model);
      } else {
        ++bad_evals;
      }
      ctx.info(fmt::format("step {}: {}{}", step, fmt_metrics(m), improved ? " (best so far)" : ""));
      if (dp) {
        // Every rank fed every batch's outputs to its evaluators, so they agree; make sure they do.
        std::vector<double> agree{std::isfinite(score) ? score : 0.0};
        dist::all_reduce_sum(agree);
        const double mine = std::isfinite(score) ? score : 0.0;
        SH_CHECK(std::abs(agree[0] - ranks * mine) <= 1e-9 * std::max(1.0, std::abs(agree[0])),
                 "data-parallel: rank {} measured {} {} at step {} but the ranks' mean is {}; their weights have "
                 "drifted apart",
                 world.rank, primary, mine, step, agree[0] / ranks);
      }
      if (patience > 0 && bad_evals >= patience) {
        ctx.info(fmt::format("early stopping: no better {} in {} evaluations", primary, patience));
        stopped_early = true;
      }
    }
    // One process looks at the signal now (after the evaluation); several ranks stop at the step they agreed on.
    if (dp ? stop_now : ctx.stop_requested()) {
      save_checkpoint();
      bar->finish();
      throw Interrupted(ctx.stop_signal() != 0 ? ctx.stop_signal() : SIGTERM);
    }
    if (step % ckpt_every == 0 || step == total || stopped_early) save_checkpoint();
    if (stopped_early) break;
  }
  bar->finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  // ---- the result: the best model if asked (and evaluated), its weights, final metrics. With several ranks,
  // rank 0 (which kept best.pt) sends the selected weights to the others, all share the final evaluation, and
  // rank 0 alone writes.
  if (o.get<bool>("select_best") && best_step >= 0) {
    if (world.rank == 0 && fs::exists(best_file)) {
      load_weights(best_file, *model);
      ctx.info(fmt::format("selected the model of step {} ({} {:.4f})", best_step, primary, best));
    }
    if (dp) broadcast_weights();
  }
  if (world.rank == 0) {
    save_weights(ctx.output_dir() / "model.pt", *model);
    write_file_atomic(ctx.output_dir() / "model.yaml", to_yaml(model->spec()));
    ctx.provide("model", saved_spec(model->spec(), "model.pt"));
    if (auto enc = model->encoder()) {
      save_weights(ctx.output_dir() / "encoder.pt", *enc);
      ctx.provide("encoder", saved_spec(enc->spec(), "encoder.pt"));
    }
    // Checkpoints served the run; the stage's output is the model.
    std::error_code ec;
    fs::remove_all(ckpt_dir, ec);
    fs::remove(best_file, ec);
    fs::remove(best_file.string() + ".sha256", ec);
    ctx.metric("steps", static_cast<double>(step));
    ctx.metric("train_loss", last_loss);
    if (best_step >= 0) ctx.metric("best_step", static_cast<double>(best_step));
  }
  for (const std::string& split : {eval_split, o.get<std::string>("test_split")}) {
    if (split.empty() || !data->has_split(split) || data->size(split) == 0) continue;
    const auto m = dp ? evaluate_split_data_parallel(*model, *data, split, evaluators, eval_bs, loss.get(), prepare)
                      : evaluate_split(*model, *data, split, evaluators, eval_bs, loss.get(), &ctx, prepare);
    if (world.rank == 0)
      for (const auto& [k, v] : m) ctx.metric(split + "." + k, v);
  }
  if (world.rank != 0) return;
  ctx.timing("train_seconds", secs);
  if (secs > 0) ctx.timing("tokens_per_second", static_cast<double>(tokens) / secs);
  if (dp) {
    ctx.timing("ranks", static_cast<double>(ranks));
    ctx.timing("allreduce_seconds", reducer.seconds());
    if (secs > 0) ctx.timing("allreduce_share", reducer.seconds() / secs);
    const int64_t steps_here = step - first_step;
    if (steps_here > 0)
      ctx.timing("allreduce_overlapped", static_cast<double>(reducer.overlapped()) /
                                             static_cast<double>(steps_here * static_cast<int64_t>(reducer.buckets())));
  }
}

}  // namespace
}  // namespace stagehand::train

STAGEHAND_PLUGIN(registrar) {
  using stagehand::ConfigNode;
  using stagehand::OptionType;
  using stagehand::parse_yaml;
  registrar
      .add<stagehand::Stage>(
          "train", "train a model: data, model, loss, optimizer, schedule, evaluation, checkpoints, resume",
          stagehand::Schema()
              .component("data", "dataset", "the training data, e.g. {type: text_classification, train: ..., tokenizer: tok}")
              .component("model", "model", "what to train, e.g. {type: classifier, encoder: {type: transformer, preset: bert-mini}}")
              .component("loss", "loss", "the objective, e.g. {type: cross_entropy}")
              .component("optimizer", "optimizer", parse_yaml("{type: adamw, lr: 1.0e-4}", "<default>"), "optimizer")
              .component("scheduler", "scheduler", parse_yaml("{type: linear, warmup_fraction: 0.1}", "<default>"),
                         "learning-rate schedule (a factor of the optimizer's lr)")
              .list("evaluators", OptionType::Component, ConfigNode::sequence(),
                    "metrics on the evaluation split; the first one's primary metric selects the best model")
              .kind("evaluator")
              .optional("init", OptionType::Stage, "start from this stage's trained encoder (or whole model: init_from)")
              .choice("init_from", "encoder", {"encoder", "model"}, "what `init` loads")
              .optional("init_hf", OptionType::Path,
                        "start from a Hugging Face model folder (config.json, model.safetensors or "
                        "pytorch_model.bin): the encoder's tensors, all required, and every model tensor with the "
                        "same name there (cls.predictions.* for the mlm model's output layer)")
              .optional("teacher", OptionType::Stage, "a stage whose model's logits become the batch's teacher.logits")
              .optional("teacher_logits", OptionType::Stages,
                        "predict stages whose logits (keyed by example id) become the batch's teacher.logits, "
                        "instead of a live teacher (DSE's logits file): cover the training split and, for a "
                        "validation loss, the evaluation split")
              .optional("steps", OptionType::Int, "optimizer steps (default: from epochs)")
              .min(1)
              .opt("epochs", 1.0, "passes over the training split when steps is not given")
              .min(0)
              .opt("batch_size", int64_t{32}, "examples per micro-batch")
              .min(1)
              .opt("grad_accum", int64_t{1}, "micro-batches per optimizer step")
              .min(1)
              .optional("eval_batch_size", OptionType::Int, "batch size for evaluation (default: batch_size)")
              .opt("clip_norm", 1.0, "gradient-norm clipping (0: off)")
              .min(0)
              .choice("clip_mode", "global", {"global", "per_tensor"},
                      "global: one norm over all gradients (torch's clip_grad_norm_); per_tensor: each tensor "
                      "clipped on its own (DSE's trainer)")
              .opt("layerwise_lr_decay", 1.0, "lr x decay^(L+2-depth): embeddings 0, block i at i+1, heads L+2 (ELECTRA)")
              .min(0)
              .max(1)
              .list("freeze", OptionType::String, ConfigNode::sequence(),
                    "parameter-name prefixes that do not train (e.g. encoder.embeddings)")
              .choice("precision", "fp32", {"fp32", "bf16"}, "bf16: autocast to bfloat16 with fp32 master weights")
              .optional("eval_every", OptionType::Int, "evaluate every N steps (default: once per epoch and at the end)")
              .min(1)
              .optional("checkpoint_every", OptionType::Int, "checkpoint every N steps (default: min(eval_every, 500))")
              .min(1)
              .opt("keep_checkpoints", int64_t{2}, "how many recent checkpoints to keep while training")
              .min(1)
              .opt("log_every", int64_t{10}, "log loss and lr to metrics.jsonl every N steps")
              .min(1)
              .opt("select_best", true, "finish with the weights of the best evaluation (if there was one)")
              .opt("early_stopping_patience", int64_t{0}, "stop after N evaluations without improvement (0: never)")
              .min(0)
              .opt("train_split", std::string("train"), "split to train on")
              .opt("eval_split", std::string("validation"), "split to evaluate on during training")
              .opt("test_split", std::string("test"), "split also evaluated at the end (if the dataset has it)"),
          [](const stagehand::Options&) { return std::make_shared<stagehand::train::TrainStage>(); })
      .with_provides({"model", "encoder"})
      .with_data_parallel();
  stagehand::train::register_saved(registrar);
}
