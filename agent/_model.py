"""Which model answers: any OpenAI-compatible endpoint from the settings, else the offline interpreter."""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_openai import ChatOpenAI

from agent._offline import OfflineInterpreter
from domain.settings import Settings


def make_model(settings: Settings, model: str | None = None) -> BaseChatModel:
    """ChatOpenAI for BILLABLE_MODEL (OpenAI, vLLM, Ollama, LM Studio...), or the offline interpreter.

    Always the Chat Completions API (use_responses_api=False): ChatOpenAI would otherwise switch some model names
    to /v1/responses, which local servers do not speak. Temperature 0: billing is no place for creativity.
    """
    name = model or settings.model
    if not name or name == OfflineInterpreter.NAME:
        return OfflineInterpreter()
    return ChatOpenAI(model=name, base_url=settings.model_base_url,
                      api_key=settings.model_api_key or "not-needed",  # local servers accept anything
                      temperature=0, max_retries=2, timeout=120, use_responses_api=False, stream_usage=True)
