-- Argo CD resource actions for finnexus.ai/FinNexusDeployment: which are offered when.
-- Each action only sets the annotation finnexus.ai/request; the operator acts once and
-- removes it.
local actions = {}
local phase = nil
if type(obj.status) == "table" then
  phase = obj.status.phase
end
local inFlight = phase == "Deploying" or phase == "Verifying"
  or phase == "AwaitingPromotion" or phase == "Analyzing"
actions["promote"] = {["disabled"] = phase ~= "AwaitingPromotion", ["iconClass"] = "fa fa-fw fa-forward"}
actions["abort"] = {["disabled"] = not inFlight, ["iconClass"] = "fa fa-fw fa-times-circle"}
actions["retry"] = {["disabled"] = not (phase == "RolledBack" or phase == "Failed"),
                    ["iconClass"] = "fa fa-fw fa-redo-alt"}
return actions
