"""The HTTP side: the request handlers of the JSON API, the feed and the dashboard, and the application that routes to them."""
