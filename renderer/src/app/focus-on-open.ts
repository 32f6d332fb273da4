import { useEffect, useRef } from 'react';

/**
 * A form's heading, given the focus once as the form opens: a keyboard or screen-reader user lands on what it is
 * about to do, not on the button that opened it.
 */
export function useFocusOnOpen() {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return heading;
}
