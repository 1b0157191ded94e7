-- Argo CD action "undo": ask the FinNexus operator to return to the previous stable revision (annotation finnexus.ai/request).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["finnexus.ai/request"] = "undo"
return obj
