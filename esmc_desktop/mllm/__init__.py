"""The multimodal LLM layer: llama.cpp runtime, hidden-state capture, logit lens, prompts."""
