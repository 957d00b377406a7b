"""Pure wire translation between the doors and the upstreams, through one hub format.

Owns: ``hub`` (the provider-neutral types), one module per wire format. Doors: ``openai_chat``
(OpenAI chat in/out), ``anthropic_door`` (Anthropic messages in/out). Upstreams: ``anthropic``,
``gemini`` (also Vertex), ``cohere``, ``bedrock`` (Converse), ``openai_upstream``.

A door request becomes a ``HubRequest``; an upstream writes it natively and reads its response
into a ``HubResponse`` or its stream into ``HubStreamEvent``s; the door writes those back.

Must not import: HTTP clients, storage, routes or the pipeline. No I/O, no module-level state.
Errors: ``BadRequest`` (``unsupported_feature`` / ``invalid_request``) for what the caller sent,
``UpstreamError`` when the upstream ended generation in an error.
"""
