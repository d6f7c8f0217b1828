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

namespace stagehand {
class Tokenizer;
}

namespace stagehand::hf {

/// What a folder holds, read and checked.
struct Checkpoint {
  std::string model_type;
  ConfigNode encoder_spec;                     ///< {type: transformer, ...}
  std::map<std::string, torch::Tensor> tensors;  ///< every tensor of model.safetensors, float32
  std::string prefix;                          ///< where the encoder's tensors are ("bert.", "electra.", "")
  std::filesystem::path weights_file;          ///< model.safetensors, else pytorch_model.bin, or a sharded one's index
  std::string architecture;                    ///< config.json's architectures[0], "" when it names none
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
/// cls.predictions.* of BertForMaskedLM is the `mlm` model's output layer; a tagger's classifier.*, extractive_qa's
/// qa_outputs.* and ELECTRA's discriminator_predictions.* are Hugging Face's own). Shapes must agree.
/// `as_saved`: the model was built by model_spec() from this folder, so a classifier of a BertForPreTraining /
/// AlbertForPreTraining folder takes its head from the next-sentence (cls.seq_relationship) / sentence-order
/// (sop_classifier.classifier) head. Otherwise those heads stay unused, as <Type>ForSequenceClassification's
/// from_pretrained leaves them.
STAGEHAND_SDK_API ModelLoad load_model(torch::nn::Module& model, const Checkpoint& checkpoint,
                                       const std::string& encoder_child = "encoder",
                                       const ConfigNode* model_spec = nullptr, bool as_saved = false);

/// What load_generator did.
struct GeneratorLoad {
  std::vector<std::string> heads;   ///< generator_predictions.*, generator_lm_head.bias
  std::vector<std::string> unused;  ///< checkpoint tensors used by neither
  double embedding_difference = 0;  ///< largest |folder - model| over the shared embedding tables (keep_embeddings)
};

/// Loads an ElectraForMaskedLM folder (ELECTRA's released generator) into the `electra` model's "generator"
/// submodule and its head (generator_predictions.*, generator_lm_head.bias: Hugging Face's names). The generator's
/// embedding tables are the discriminator's (ELECTRA shares them): with `keep_embeddings` they are left as they
/// are and only compared (embedding_difference), otherwise the folder's are copied in, for both. The generator's
/// architecture must be the folder's (hidden size, layers, heads, FFN); an error names both and the fix.
STAGEHAND_SDK_API GeneratorLoad load_generator(torch::nn::Module& model, const Checkpoint& generator,
                                               bool keep_embeddings);

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

/// The model spec (with `encoder` the checkpoint's encoder_spec) whose head is laid out as the folder's architecture
/// (config.json's architectures), so that load_model(..., as_saved = true) fills every tensor of it:
///   <Type>ForSequenceClassification      classifier (pooling and head as classifier_head_names lays them out)
///   <Type>ForTokenClassification         tagger (classifier.*)
///   <Type>ForQuestionAnswering           extractive_qa (qa_outputs.*)
///   <Type>ForMaskedLM                    mlm (the import table's MLM head; its special ids are left for the caller to
///                                        set from the folder's tokenizer); given mlm_positions it fills masks
///   ElectraForPreTraining                electra_discriminator (discriminator_predictions.*: replaced-token detection)
///   BertForPreTraining                   classifier of 2 classes over the pooler: next-sentence prediction
///                                        (cls.seq_relationship; 0: b follows a, 1: b is random)
///   AlbertForPreTraining                 classifier of 2 classes over the pooler: sentence-order prediction
///                                        (sop_classifier.classifier; 0: in order, 1: swapped)
/// num_labels from config.json's num_labels or id2label. Throws stagehand::Error naming the architecture and these
/// for any other.
STAGEHAND_SDK_API ConfigNode model_spec(const std::filesystem::path& folder, const Checkpoint& checkpoint);

/// config.json's id2label as a list ordered by id; empty when the folder has none. A BertForPreTraining or
/// AlbertForPreTraining folder without one gets its next-sentence / sentence-order head's classes
/// (is_next, random / in_order, swapped).
STAGEHAND_SDK_API std::vector<std::string> label_names(const std::filesystem::path& folder);

/// Adds a model's head to a folder written by write_folder: its tensors under Hugging Face's names and config.json's
/// architectures, with id2label and label2id for heads over labels (`label_names` when given, one per label, else
/// LABEL_0, ...):
///   classifier             <Type>ForSequenceClassification (classifier_head_names)
///   mlm                    <Type>ForMaskedLM (head_name; the decoder is tied, so not written, as save_pretrained
///                          leaves it out)
///   tagger                 <Type>ForTokenClassification (classifier.*)
///   extractive_qa          <Type>ForQuestionAnswering (qa_outputs.*)
///   electra_discriminator, electra   ElectraForPreTraining (discriminator_predictions.*; model_type electra only)
/// Returns "" or, when the head does not map, why (the folder is left as it was).
STAGEHAND_SDK_API std::string add_head(const std::filesystem::path& folder, torch::nn::Module& model,
                                       const ConfigNode& model_spec, const std::string& model_type,
                                       const std::vector<std::string>& label_names = {});

/// Writes an `electra` model's generator as an ElectraForMaskedLM folder (ELECTRA's released generator layout):
/// the generator encoder with the shared embedding tables, generator_predictions.* and generator_lm_head.bias.
STAGEHAND_SDK_API void write_generator(const std::filesystem::path& folder, torch::nn::Module& model,
                                       const ConfigNode& model_spec);

/// The tokenizer spec for a Hugging Face folder: vocab.txt -> {type: wordpiece, ...}, spiece.model ->
/// {type: sentencepiece, ...}, vocab.json + merges.txt -> {type: bpe, ...} (GPT-2, RoBERTa), else tokenizer.json ->
/// {type: bpe, tokenizer_json: ...}; with lower-casing, accent stripping, add_prefix_space and the special tokens
/// of tokenizer_config.json and special_tokens_map.json (Hugging Face's defaults where absent). Paths in the spec
/// are absolute.
STAGEHAND_SDK_API ConfigNode tokenizer_spec(const std::filesystem::path& folder);

/// Saves `tokenizer` into `folder` with the files Hugging Face's tokenizer classes read (tokenizer_spec reads them
/// back): tokenizer_config.json (the class, the settings the tokenizer applies, model_max_length: the encoder's
/// positions) and special_tokens_map.json, with the special tokens its vocabulary has:
///   wordpiece      vocab.txt, BertTokenizer (ElectraTokenizer for model_type electra)
///   sentencepiece  spiece.model, AlbertTokenizer (do_lower_case, remove_space, keep_accents as the tokenizer's)
///   bpe            vocab.json + merges.txt: RobertaTokenizer (layout roberta) or GPT2Tokenizer (layout none), the
///                  Fast class for tokenizer.json; add_prefix_space, trim_offsets, <mask>'s lstrip
/// Returns "" or, for another tokenizer, why no tokenizer_config.json was written (its own files are saved).
STAGEHAND_SDK_API std::string write_tokenizer(const std::filesystem::path& folder, const Tokenizer& tokenizer,
                                              const ConfigNode& encoder_spec, const std::string& model_type);

/// Writes `encoder` (a `transformer`, described by `spec`) as a Hugging Face folder: config.json and
/// model.safetensors with the model type's prefix and names (model_type "auto": albert when the layers are shared,
/// roberta when positions are offset, electra when the spec has no pooler or embedding_size differs from
/// hidden_size, else bert). Returns the model type written.
STAGEHAND_SDK_API std::string write_folder(const std::filesystem::path& folder, torch::nn::Module& encoder,
                                           const ConfigNode& spec, const std::string& model_type = "auto");

}  // namespace stagehand::hf
