"""Node networking: the asyncio splice proxy, nftables portal rules, and the pod network."""
