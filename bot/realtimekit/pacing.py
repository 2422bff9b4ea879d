"""RealtimeKit's published limit, which every request the bot makes counts against.

Stops, status reads, list pages and retries all count, through one sliding window in
the bot's State (bot/state): shared by every copy when they share a store, this
process's own while the store is down or when there is none. A 429 pauses them all.
"""

# Cloudflare's RealtimeKit limits page: "All RealtimeKit APIs: 3,500 requests per five
# minutes". Module constants so that tests can shrink them before a client is built.
REQUESTS_PER_WINDOW = 3500
WINDOW_SECONDS = 300.0
