-- Argo CD resource actions for finnexus.ai/FinNexusDeployment: which are offered when.
-- Each action only sets the annotation finnexus.ai/request; the operator acts once and
-- removes it.
local actions = {}
local phase = nil
local rejected = nil
local previous = nil
if type(obj.status) == "table" then
  phase = obj.status.phase
  rejected = obj.status.rejectedRevision
  previous = obj.status.previousStableRevision
end
local inFlight = phase == "Deploying" or phase == "Verifying"
  or phase == "AwaitingPromotion" or phase == "Analyzing"
-- promote: AwaitingPromotion switches now; Analyzing promotes now (the analysis is skipped)
actions["promote"] = {["disabled"] = not (phase == "AwaitingPromotion" or phase == "Analyzing"),
                      ["iconClass"] = "fa fa-fw fa-forward"}
actions["abort"] = {["disabled"] = not inFlight, ["iconClass"] = "fa fa-fw fa-times-circle"}
-- retry: a rejected revision (after a rollback, a failure or an undo) and nothing in flight
actions["retry"] = {["disabled"] = rejected == nil or inFlight or phase == "RollingBack",
                    ["iconClass"] = "fa fa-fw fa-redo-alt"}
-- undo: during a rollout it rolls back; when idle it needs a previous stable revision
actions["undo"] = {["disabled"] = not (inFlight or (previous ~= nil and phase ~= "RollingBack")),
                   ["iconClass"] = "fa fa-fw fa-undo"}
return actions
