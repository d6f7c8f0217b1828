// SPDX-License-Identifier: Apache-2.0
#pragma once
// Host-internal. Ranks of a data-parallel run: how the cores are divided among the ranks of one machine, and what
// ranks other than 0 do (follow_pipeline: the protocol by which they follow rank 0's run).
#include "pipeline/pipeline.h"

namespace stagehand::exec {

/// Thread settings for this process: with several local ranks, the cores are divided among them (for the intra-op
/// threads' "one per core" and for the OpenBLAS threads' "the cores intra-op threads leave").
ThreadSettings threads_for_this_rank(ThreadSettings wanted);

/// What a rank other than 0 does for the whole run (see ranks.cpp for the protocol).
RunResult follow_pipeline(const Pipeline& pipeline, const PluginLoader& loader);

}  // namespace stagehand::exec
