// SPDX-License-Identifier: Apache-2.0
#pragma once
/// Hugging Face model folders <-> the `transformer` encoder. A folder holds config.json and model.safetensors (or
/// pytorch_model.bin); the encoder's parameter names are Hugging Face's BERT/ELECTRA/RoBERTa names, so the mapping
/// is a prefix ("bert.", "electra.", "roberta.", or none), ALBERT's names are renamed (encoder_name), and the config
/// keys are below. Used by the `hf` encoder plugin and the train stage (init_hf, export_hf).
///   config.json          transformer option
///   model_type           bert | electra | roberta | albert (others are refused with the list of supported ones)
///   vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, max_position_embeddings,
///   type_vocab_size, layer_norm_eps, hidden_dropout_prob, attention_probs_dropout_prob, initializer_range
///                        the options of the same meaning
///   embedding_size       embedding_size (ELECTRA; a projection to hidden_size follows when they differ)
///   hidden_act           gelu -> gelu, gelu_new / gelu_pytorch_tanh -> gelu_tanh, relu -> relu
///   pad_token_id         RoBERTa: position_offset = pad_token_id + 1 (positions start after the padding row)
///   num_hidden_groups, inner_group_num   ALBERT: must be 1 (one shared block: shared_layers true)
/// The pooler is built when the checkpoint has one (BERT, RoBERTa, ALBERT), not otherwise (ELECTRA has none).
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/types.h>

#include <stagehand/config.h>

#include "stagehand/sdk/export.h"

namespace stagehand::hf {

/// What a folder holds, read and checked.
struct Checkpoint {
  std::string model_type;
  ConfigNode encoder_spec;                     ///< {type: transformer, ...}
  std::map<std::string, torch::Tensor> tensors;  ///< every tensor of model.safetensors, float32
  std::string prefix;                          ///< where the encoder's tensors are ("bert.", "electra.", "")
  std::filesystem::path weights_file;          ///< model.safetensors, else pytorch_model.bin, or a sharded one's index
};

/// The Hugging Face name of the transformer encoder's tensor `name` in a `model_type` checkpoint whose encoder
/// tensors carry `prefix`: prefix + name, except for ALBERT (embedding_hidden_mapping_in, albert_layer_groups.0.
/// albert_layers.0.{attention.query/key/value/dense/LayerNorm, ffn, ffn_output, full_layer_layer_norm}, pooler).
STAGEHAND_SDK_API std::string encoder_name(const std::string& model_type, const std::string& prefix,
                                            const std::string& name);

/// The Hugging Face name of a model's head tensor: the mlm model's cls.predictions.* is BERT's name, RoBERTa's
/// lm_head.{dense, layer_norm, bias}, ALBERT's predictions.{dense, LayerNorm, bias} and ELECTRA's (a generator,
/// ElectraForMaskedLM) generator_predictions.{dense, LayerNorm} and generator_lm_head.bias.
STAGEHAND_SDK_API std::string head_name(const std::string& model_type, const std::string& name);

/// The weights of `folder` in Hugging Face's order of preference: model.safetensors, model.safetensors.index.json (a
/// sharded checkpoint: its weight_map names each tensor's shard file), pytorch_model.bin (torch.save's zip format,
/// torch_pickle.h), pytorch_model.bin.index.json. `weights_file` receives the file read (the index for shards).
/// A shard named outside the folder, a missing shard or a tensor its shard lacks is an error naming them.
STAGEHAND_SDK_API std::map<std::string, torch::Tensor> load_weights(const std::filesystem::path& folder,
                                                                   std::filesystem::path& weights_file);

/// Reads config.json and the weights of `folder` (load_weights). `prefix` "auto" finds it. Errors name the folder
/// and file.
STAGEHAND_SDK_API Checkpoint read_folder(const std::filesystem::path& folder,
                                         const std::string& prefix = "auto");

/// Copies the checkpoint's tensors into `encoder` (every parameter and buffer must be there with its shape; an
/// error names the tensor and both shapes). Returns the names of the tensors not used (heads, position_ids, ...).
STAGEHAND_SDK_API std::vector<std::string> load_into(torch::nn::Module& encoder,
                                                     const Checkpoint& checkpoint);

/// What `load_model` did besides the encoder.
struct ModelLoad {
  std::vector<std::string> heads;     ///< model tensors outside the encoder found in the checkpoint (cls.*, ...)
  std::vector<std::string> fresh;     ///< model tensors outside the encoder not in it: they keep their initialisation
  std::vector<std::string> unused;    ///< checkpoint tensors used by neither
};

/// Loads a whole model: its `encoder_child` submodule's tensors as `load_into` does (all required), and every other
/// parameter or buffer whose name the checkpoint has too, with the same name (Hugging Face's head names:
/// cls.predictions.* of BertForMaskedLM is the `mlm` model's output layer). Shapes must agree.
STAGEHAND_SDK_API ModelLoad load_model(torch::nn::Module& model, const Checkpoint& checkpoint,
                                       const std::string& encoder_child = "encoder",
                                       const ConfigNode* model_spec = nullptr);

/// How a `classifier` model's head (`model_spec`, its spec()) maps onto Hugging Face's
/// <Type>ForSequenceClassification: model tensor name -> Hugging Face name.
///   bert, albert      pooling pooler, head {type: mlp, hidden: []}          -> classifier.{weight, bias}
///   electra, roberta  pooling cls, head {type: mlp, hidden: [hidden_size],  -> classifier.dense.*, classifier.out_proj.*
///                     activation gelu (ELECTRA) / tanh (RoBERTa)}
///   distilbert        pooling cls, head {type: mlp, hidden: [hidden_size],  -> pre_classifier.*, classifier.*
///                     activation relu}
/// `names` is empty and `why_not` says why when the head does not map (another model, pooling or head layout).
struct HeadNames {
  std::map<std::string, std::string> names;
  std::string why_not;
};
STAGEHAND_SDK_API HeadNames classifier_head_names(const std::string& model_type,
                                                  const ConfigNode& model_spec);

/// The `classifier` spec (pooling, head, num_labels; `encoder` the checkpoint's encoder_spec) whose head is laid out
/// as the folder's <Type>ForSequenceClassification (config.json's architectures), so that load_model fills every
/// tensor of it. Throws stagehand::Error, saying what the folder holds instead, for any other architecture.
STAGEHAND_SDK_API ConfigNode classifier_spec(const std::filesystem::path& folder, const Checkpoint& checkpoint);

/// config.json's id2label as a list ordered by id; empty when the folder has none.
STAGEHAND_SDK_API std::vector<std::string> label_names(const std::filesystem::path& folder);

/// Adds a classifier's head to a folder written by write_folder: its tensors under Hugging Face's names, and
/// config.json's architectures (<Type>ForSequenceClassification), id2label and label2id (`label_names` when given,
/// one per label, else LABEL_0, ...). Returns ""
/// or, when the head does not map, why (the folder is left as it was).
STAGEHAND_SDK_API std::string add_classifier_head(const std::filesystem::path& folder, torch::nn::Module& model,
                                                  const ConfigNode& model_spec, const std::string& model_type,
                                                  const std::vector<std::string>& label_names = {});

/// The tokenizer spec for a Hugging Face folder: vocab.txt -> {type: wordpiece, ...}, spiece.model ->
/// {type: sentencepiece, ...}, vocab.json + merges.txt -> {type: bpe, ...} (GPT-2, RoBERTa), else tokenizer.json ->
/// {type: bpe, tokenizer_json: ...}; with lower-casing, accent stripping, add_prefix_space and the special tokens
/// of tokenizer_config.json and special_tokens_map.json (Hugging Face's defaults where absent). Paths in the spec
/// are absolute.
STAGEHAND_SDK_API ConfigNode tokenizer_spec(const std::filesystem::path& folder);

/// Writes `encoder` (a `transformer`, described by `spec`) as a Hugging Face folder: config.json and
/// model.safetensors with the model type's prefix and names (model_type "auto": albert when the layers are shared,
/// roberta when positions are offset, electra when the spec has no pooler or embedding_size differs from
/// hidden_size, else bert). Returns the model type written.
STAGEHAND_SDK_API std::string write_folder(const std::filesystem::path& folder, torch::nn::Module& encoder,
                                           const ConfigNode& spec, const std::string& model_type = "auto");

}  // namespace stagehand::hf
