-- Argo CD action "retry": ask the FinNexus operator to retry the rejected template (annotation finnexus.ai/request).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["finnexus.ai/request"] = "retry"
return obj
