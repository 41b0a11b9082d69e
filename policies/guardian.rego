# Guardian's default policy: every Kubernetes call a skill makes is decided here.
#
# Operators extend it with --policies DIR: files in `package guardian` may add
# `deny` entries, `allow` entries, and names to `disabled` (to switch off a rule
# of this file). They cannot touch `package guardian.system`, which holds the
# invariants and combines everything into the one decision the broker reads:
# `data.guardian.system.decision`. See policies/README.md for the input and
# output documents.
package guardian

import rego.v1

read_verbs := {"get", "list", "watch", "logs", "events"}

write_verbs := {"create", "update", "patch", "delete", "deletecollection"}

# A review asks the API server a question and stores nothing: may the
# identity in use do something (a SelfSubjectAccessReview, for `guardian
# doctor`), whose is this bearer token (a TokenReview, for `guardian serve`).
# It is not a write: no dry run is forced and no namespace is protected from it.
review_verbs := {"review"}

covered_by(grants) if "*" in grants

# `input.resource.grant` is the resource as skill manifests name it:
# "pods", "pods/log", "deployments.apps".
covered_by(grants) if input.resource.grant in grants

# A Prometheus query: a `get` of the pseudo-resource
# `prometheus.metrics.guardian.dev`, the PromQL text in `input.name`.
prometheus_query if {
	input.resource.group == "metrics.guardian.dev"
	input.resource.resource == "prometheus"
}

# Git and forges (the broker's `git_*` and pull request calls): a fetch is a
# `get` of `repositories.git.guardian.dev`, a push of a new branch a `create`
# of `branches.git.guardian.dev`, a pull request a `get` or `create` of
# `pullrequests.forge.guardian.dev`; `input.name` is the repository URL
# (`URL#BRANCH`, `URL#NUMBER`). Reads fall under reads-within-grants and
# writes under approved-action like any other; no other verb is a call
# Guardian makes on them (deleting or rewriting a branch is not).
git_forge_calls := {
	["git.guardian.dev", "repositories", "get"],
	["git.guardian.dev", "branches", "create"],
	["forge.guardian.dev", "pullrequests", "get"],
	["forge.guardian.dev", "pullrequests", "create"],
}

# One delete is a call Guardian makes: an approved action removing its own
# branch `guardian/<action-id>` again when its pull request could not be
# opened (nothing is left half-done in Git). No other branch, ever.
own_branch_cleanup if {
	input.resource.group == "git.guardian.dev"
	input.resource.resource == "branches"
	input.verb == "delete"
	input.action.id != ""
	endswith(input.name, sprintf("#guardian/%s", [input.action.id]))
}

deny contains {"rule": "git-forge-calls", "reason": reason} if {
	input.resource.group in {"git.guardian.dev", "forge.guardian.dev"}
	not [input.resource.group, input.resource.resource, input.verb] in git_forge_calls
	not own_branch_cleanup
	reason := sprintf("%s of %s is not a call Guardian makes on Git or a forge (it fetches, pushes new branches, opens and reads pull requests)", [input.verb, input.resource.grant])
}

# Reads are allowed within the skill's read grants.
allow contains "reads-within-grants" if {
	input.verb in read_verbs
	not prometheus_query
	covered_by(input.grants.read)
}

# Prometheus queries only read, and are allowed within the skill's grants
# (a skill's `metrics` grant reaches policy as the read grant
# `prometheus.metrics.guardian.dev`). Operators turn them off with
# `disabled contains "prometheus-queries"`, or deny some of them with a
# `deny` entry on `input.name` (the query).
allow contains "prometheus-queries" if {
	input.verb == "get"
	prometheus_query
	covered_by(input.grants.read)
}

# Reviews are allowed within the read grants.
allow contains "reviews-within-grants" if {
	input.verb in review_verbs
	covered_by(input.grants.read)
}

# A write may be tried as a server-side dry run within the propose grants.
allow contains "dry-run-within-grants" if {
	input.verb in write_verbs
	input.dry_run
	covered_by(input.grants.propose)
}

# A write that carries a human-approved action is allowed for real.
allow contains "approved-action" if {
	input.verb in write_verbs
	data.guardian.system.approved_action
	covered_by(input.grants.propose)
}

# Operators add entries here: {"rule": "...", "reason": "..."}.
deny contains entry if {
	false
	entry := {}
}

# Operators add rule names here to switch off rules of this file.
disabled contains name if {
	false
	name := ""
}
