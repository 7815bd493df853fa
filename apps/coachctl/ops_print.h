// How coachctl ops prints what coachd answers: resident actors, batch
// progress, queue depths, the cluster. Plain text tables for people; --json prints the
// reply itself.
#pragma once

#include "schema/commands.pb.h"

namespace coach::apps {

void print_actor_list(const v1::ActorList& list);
void print_batch_status(const v1::BatchStatus& status);
void print_queues(const v1::OpsSnapshot& ops);
// The cluster as this node sees it: its mode ("single node", "owner and
// standbys", "partitioned"), members, partitions per owner and, for the
// partitions it serves, lease age, catch-up and store size.
void print_cluster(const v1::ClusterFigures& cluster);

}  // namespace coach::apps
