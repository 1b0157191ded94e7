-- Argo CD action "promote": ask the FinNexus operator to promote the candidate now (annotation finnexus.ai/request).
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["finnexus.ai/request"] = "promote"
return obj
