"""Local servers that speak other services' protocols, for end-to-end tests over real sockets."""
