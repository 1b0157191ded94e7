-- Argo CD health check for finnexus.ai/FinNexusDeployment (installed by argocd-cm.yaml).
-- Never errors: an object without status (just applied, operator not there yet) is Progressing.
local hs = {}
local status = obj.status
if type(status) ~= "table" or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the FinNexus operator to report a phase"
  return hs
end

local phase = status.phase
local message = status.message
if message == nil or message == "" then
  message = phase
end

-- The operator has not looked at the latest spec yet: whatever the phase says is old news.
local generation = obj.metadata ~= nil and obj.metadata.generation or nil
local observed = status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if phase == "RolledBack" or phase == "Failed" or phase == "Invalid" then
  hs.status = "Degraded"
  hs.message = phase .. ": " .. message
  return hs
end

-- What runs is not what Git declares: after an undo (or any rollback that settled as
-- Stable) the operator serves status.stableRevision while spec.template is
-- status.templateRevision (the revision the operator computed from the current template).
local running = status.stableRevision
local declared = status.templateRevision
if phase == "Stable" and running ~= nil and declared ~= nil and running ~= declared then
  hs.status = "Degraded"
  hs.message = "Running revision " .. tostring(running) .. " is not the template's revision "
    .. tostring(declared) .. " (undone or rolled back; change the template or request a retry): "
    .. message
  return hs
end

local paused = obj.spec ~= nil and obj.spec.paused == true
if phase == "AwaitingPromotion" or paused then
  hs.status = "Suspended"
  if phase == "AwaitingPromotion" then
    hs.message = "Awaiting promotion: run the 'promote' action or `kubectl finnexus promote`"
  else
    hs.message = "Paused (spec.paused): " .. message
  end
  return hs
end

if phase == "Stable" then
  -- The promoted colour can lose its pods later: the operator says so in the Degraded
  -- condition (reason StableUnavailable) and leaves traffic where it is.
  if type(status.conditions) == "table" then
    for _, condition in ipairs(status.conditions) do
      if condition.type == "Degraded" and condition.status == "True" then
        hs.status = "Degraded"
        hs.message = (condition.reason or "Degraded") .. ": " .. (condition.message or message)
        return hs
      end
    end
  end
  hs.status = "Healthy"
  hs.message = message
  return hs
end

-- Pending, Deploying, Verifying, Analyzing, RollingBack, and any phase this script does
-- not know yet (a newer operator): a rollout is under way.
hs.status = "Progressing"
hs.message = phase .. ": " .. message
return hs
