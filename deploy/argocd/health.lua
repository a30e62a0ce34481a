-- Argo CD health check for transit.privatelink.io ConfluentPrivateLink and ServerlessTransit.
-- Reads the kstatus-style conditions the operator writes (Ready, Stalled, Reconciling), each with
-- observedGeneration. Argo CD runs this in gopher-lua (Lua 5.1): `obj` is the live object.
--   Degraded     Stalled=True for the current generation (a fatal error: fix the spec or Azure side)
--   Healthy      Ready=True for the current generation
--   Progressing  everything else: no status yet, status for an older generation, being deleted, waiting
-- Source of truth: deploy/argocd/health.lua (tests/chart/test_argocd_health.py runs it).
local hs = {}

local function condition(conditions, type_)
  for _, c in ipairs(conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local generation = obj.metadata.generation
local status = obj.status

if obj.metadata.deletionTimestamp ~= nil then
  hs.status = "Progressing"
  hs.message = "Deleting: the operator is removing the cloud resources"
  return hs
end

if status == nil or status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

-- A condition counts only if it was written for the current generation (when it says which).
local function current(c)
  return c ~= nil and (generation == nil or c.observedGeneration == nil or c.observedGeneration >= generation)
end

local stalled = condition(status.conditions, "Stalled")
if current(stalled) and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = text(stalled, "Stalled")
  return hs
end

local ready = condition(status.conditions, "Ready")
if current(ready) and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end

local reconciling = condition(status.conditions, "Reconciling")
hs.status = "Progressing"
if current(reconciling) and reconciling.status == "True" then
  hs.message = text(reconciling, "Reconciling")
elseif current(ready) then
  hs.message = text(ready, "Not ready yet")
else
  hs.message = "Not ready yet"
end
return hs
