export { DeadlineError, take, waitFor, withDeadline } from './deadline.ts';
