"""The bundled kubectl-like CLI (``minikube8s get pods,rc``): verbs, printers, kubeconfig."""
