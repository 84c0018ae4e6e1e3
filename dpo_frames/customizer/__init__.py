"""NeMo Customizer: an async client for the NeMo microservices platform.

The local emulator lives in :mod:`dpo_frames.customizer.emulator` and is imported
explicitly (it pulls in the ASGI server).
"""
