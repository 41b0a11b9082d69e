# Invariants and the decision. Reserved: operator policies may not use this
# package, so nothing here can be overridden.
package guardian.system

import rego.v1

write_verbs := data.guardian.write_verbs

# A real (not dry-run) write needs an action a human approved.
approved_action if {
	input.action.id != ""
	input.action.approved == true
	startswith(input.action.approver, "human:")
}

# Deleting a Namespace is denied whoever asks.
invariant_deny contains {"rule": "no-namespace-delete", "reason": "deleting a Namespace is never allowed"} if {
	input.verb in {"delete", "deletecollection"}
	input.resource.group == ""
	input.resource.resource == "namespaces"
}

# Any write in a namespace labelled guardian.io/protected=true is denied,
# dry run or not, approved or not.
invariant_deny contains {"rule": "protected-namespace", "reason": reason} if {
	input.verb in write_verbs
	input.namespace_labels["guardian.io/protected"] == "true"
	reason := sprintf("namespace %q is protected (label guardian.io/protected=true)", [input.namespace])
}

# A write in a namespace whose labels could not be read counts as a write in
# a protected namespace: not knowing is not permission.
invariant_deny contains {"rule": "protected-namespace", "reason": reason} if {
	input.verb in write_verbs
	input.namespace != ""
	input.namespace_read_error != ""
	reason := sprintf("namespace %q counts as protected: its labels could not be read (%s)", [input.namespace, input.namespace_read_error])
}

denials := invariant_deny | {d |
	some d in data.guardian.deny
	not d.rule in data.guardian.disabled
}

allowed := {r |
	some r in data.guardian.allow
	not r in data.guardian.disabled
}

# Every write is a dry run unless it carries a human-approved action.
forced_dry_run if {
	input.verb in write_verbs
	not approved_action
}

dry_run := true if forced_dry_run

dry_run := input.dry_run if not forced_dry_run

default decision := {
	"allow": false,
	"dry_run": true,
	"reasons": ["no rule allows this request (outside the skill's grants?)"],
	"rule": "default-deny",
}

decision := {
	"allow": false,
	"dry_run": true,
	"reasons": sort([d.reason | some d in denials]),
	"rule": sort([d.rule | some d in denials])[0],
} if count(denials) > 0

decision := {
	"allow": true,
	"dry_run": dry_run,
	"reasons": rules,
	"rule": rules[0],
} if {
	count(denials) == 0
	count(allowed) > 0
	rules := sort(allowed)
}
