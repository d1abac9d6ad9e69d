"""The async REST client and its client-go analogues: reflector, informer, workqueue."""
