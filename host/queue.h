/*
** queue.h - intrusive doubly linked lists.
** A list head and a node are the same type: a circular ring of links.  A
** detached node links to itself, so "is it in a list?" is one comparison
** and removal never needs to know which list holds the node.
*/
#ifndef CORUN_QUEUE_H
#define CORUN_QUEUE_H

#include <stddef.h>

typedef struct corun_Link {
  struct corun_Link *prev;  /* previous node, or the head */
  struct corun_Link *next;  /* next node, or the head */
} corun_Link;

/* The struct of type 'type' whose member 'field' is at address 'p'. */
#define corun__container_of(p, type, field) \
  ((type *)(void *)((char *)(p) - offsetof(type, field)))

static inline void corun__link_init(corun_Link *l) {
  l->prev = l->next = l;
}

/* For a node: is it in a list?  For a head: is the list non-empty? */
static inline int corun__link_linked(const corun_Link *l) {
  return l->next != l;
}

/* Append node 'n' at the tail of the list 'head'. */
static inline void corun__link_append(corun_Link *head, corun_Link *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}

/* Remove 'n' from its list (harmless if it is in none). */
static inline void corun__link_remove(corun_Link *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}

/* First node of the list, or NULL when it is empty. */
static inline corun_Link *corun__link_first(corun_Link *head) {
  return head->next == head ? NULL : head->next;
}

#endif
