"""The Faust adapter: consume the input topics, run the routing service, publish its outputs."""
