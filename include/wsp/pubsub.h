/*
 * libwsp - pubsub.h: publish/subscribe. A wsp_pubsub is a registry of
 * channels and subscriptions, usable on its own (any pointer can be a
 * subscriber) or through the hub (wsp_server), which builds the
 * protocol's subscribe, unsubscribe, publish and presence on it.
 *
 * Channel names are byte strings; '.' separates segments for wildcard
 * patterns: "*" matches exactly one segment ("news.*" matches
 * "news.sport", not "news.sport.x"), and ">" as the last segment matches
 * one or more ("news.>" matches "news.sport" and "news.sport.x"). A
 * pattern is a wildcard pattern when one of its segments is exactly "*"
 * or ">"; every other name is an exact channel.
 *
 * Publishing walks the exact channel (one hash lookup) and the wildcard
 * tree segment by segment: the cost depends on the channel's length, not
 * on the number of channels or subscriptions.
 */
#ifndef WSP_PUBSUB_H
#define WSP_PUBSUB_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct wsp_pubsub;

WSP_API int wsp_pubsub_new(struct wsp_pubsub **pps, const struct wsp_mem *mem);
WSP_API void wsp_pubsub_free(struct wsp_pubsub *ps);

/* Subscribe subscriber to pattern (an exact channel or a wildcard
 * pattern). WSP_ERR_STATE if it already is; WSP_ERR_INVAL for an empty
 * pattern, an empty segment, or ">" before the last segment. */
WSP_API int wsp_pubsub_subscribe(struct wsp_pubsub *ps, const char *pattern,
                                 size_t len, void *subscriber);
/* WSP_ERR_NOT_FOUND if subscriber was not subscribed to pattern. */
WSP_API int wsp_pubsub_unsubscribe(struct wsp_pubsub *ps, const char *pattern,
                                   size_t len, void *subscriber);
WSP_API int wsp_pubsub_is_subscribed(const struct wsp_pubsub *ps,
                                     const char *pattern, size_t len,
                                     const void *subscriber);

/*
 * Call deliver once for every subscription matching channel (a subscriber
 * subscribed through two matching patterns gets two calls); pattern is
 * the subscription's pattern (== channel for exact ones), valid during the
 * call. deliver may subscribe and unsubscribe anyone, also to this
 * channel: subscriptions removed during the walk are skipped; one added
 * to a pattern the walk has already passed waits for the next
 * publication, one added to a pattern not yet reached may get this one.
 * Returns the number of deliveries, or a
 * negative WSP_ERR_* (WSP_ERR_INVAL for a wildcard channel name).
 */
WSP_API long wsp_pubsub_publish(struct wsp_pubsub *ps, const char *channel,
                                size_t len,
                                void (*deliver)(void *subscriber,
                                                const char *pattern,
                                                size_t pattern_len,
                                                void *user_data),
                                void *user_data);

/* Subscribers of exactly this pattern (no wildcard expansion). */
WSP_API size_t wsp_pubsub_subscribers(const struct wsp_pubsub *ps,
                                      const char *pattern, size_t len);
/* Call fn for each subscriber of exactly this pattern. */
WSP_API int wsp_pubsub_each(const struct wsp_pubsub *ps, const char *pattern,
                            size_t len,
                            void (*fn)(void *subscriber, void *user_data),
                            void *user_data);
/* Patterns with at least one subscriber, exact and wildcard. */
WSP_API size_t wsp_pubsub_channels(const struct wsp_pubsub *ps);
/* Call fn for each of them with its number of subscribers, in no
 * particular order; fn must not subscribe or unsubscribe anyone. */
WSP_API int wsp_pubsub_each_channel(const struct wsp_pubsub *ps,
                                    void (*fn)(const char *pattern, size_t len,
                                               size_t subscribers,
                                               void *user_data),
                                    void *user_data);

#ifdef __cplusplus
}
#endif

#endif /* WSP_PUBSUB_H */
