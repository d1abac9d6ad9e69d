"""Who may talk to the API server, and how they prove it (issue 9; docs/security.md).

- ``pki``: the cluster CA and each control plane's serving certificate (ECDSA P-256 with the
  ``cryptography`` package), files in ``DATA_DIR/pki``.
- ``credentials``: the cluster's shared secrets (CA, admin / read-only / join tokens, the node
  HMAC key): created once, kept under the store key ``/minikube8s/bootstrap`` so every control
  plane on one etcd uses the same ones, mirrored into the data dir.
- ``authn``: bearer token -> ``UserInfo`` (constant-time comparisons; tokens are never logged).
- ``authz``: what each user may do (admin, read-only, node), Kubernetes' 403 wording, and the
  NodeRestriction admission check against stored objects.
- ``nodepasswords``: a node name belongs to the machine that first joined under it (k3s'
  node password), until its Node is deleted.
- ``join`` (client side, the node's join flow) lives here too.

roles/apiserver/secure.py applies authn/authz to requests that arrive on the HTTPS port; the
loopback insecure port stays admin without authentication, as old kube-apiserver's was.
"""
