-- Argo CD action "abort": ask the FinNexus operator to roll the candidate back now (annotation finnexus.ai/request).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["finnexus.ai/request"] = "abort"
return obj
